// What a task learns about itself from the ECS task metadata endpoint (version 4), which the ECS
// agent serves to every container at $ECS_CONTAINER_METADATA_URI_V4.
// https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-metadata-endpoint-v4.html

export interface TaskSelf {
  /** The task's private IPv4 address in its VPC (awsvpc network mode: one ENI per task). */
  privateAddress: string;
  /** The task's ARN, for operators reading the fleet registry. */
  taskArn?: string;
}

interface ContainerMetadata {
  Networks?: { IPv4Addresses?: string[] }[];
  Labels?: Record<string, string>;
}

/** Reads this container's network and task identity; throws when not running on ECS or unanswered. */
export async function readTaskSelf(metadataUri = process.env.ECS_CONTAINER_METADATA_URI_V4, timeoutMs = 2000): Promise<TaskSelf> {
  if (!metadataUri) throw new Error('ECS_CONTAINER_METADATA_URI_V4 is not set: not running on ECS; set fleet.advertiseHost');
  const response = await fetch(metadataUri, { signal: AbortSignal.timeout(timeoutMs) });
  if (response.status !== 200) throw new Error(`the ECS task metadata endpoint answered HTTP ${response.status}`);
  const container = (await response.json()) as ContainerMetadata;
  const privateAddress = container.Networks?.flatMap((n) => n.IPv4Addresses ?? [])[0];
  if (!privateAddress) throw new Error('the ECS task metadata names no IPv4 address for this container');
  const taskArn = container.Labels?.['com.amazonaws.ecs.task-arn'];
  return taskArn ? { privateAddress, taskArn } : { privateAddress };
}
