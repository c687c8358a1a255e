// SQLSTATEs the gateway answers with. Clients key behaviour on these, so they follow PostgreSQL's meaning.
export const SQLSTATE = {
  protocolViolation: '08P01',
  connectionRejected: '08004', // sqlserver_rejected_establishment_of_sqlconnection
  connectionFailure: '08006',
  cannotConnect: '08001', // sqlclient_unable_to_establish_sqlconnection
  invalidPassword: '28P01',
  invalidAuthorization: '28000',
  unknownDatabase: '3D000',
  insufficientPrivilege: '42501',
  syntaxError: '42601',
  programLimitExceeded: '54000',
  statementTooComplex: '54001',
  insufficientResources: '53000',
  queryCanceled: '57014',
  cannotConnectNow: '57P03',
  systemError: '58000',
  featureNotSupported: '0A000',
  invalidParameterValue: '22023',
} as const;
