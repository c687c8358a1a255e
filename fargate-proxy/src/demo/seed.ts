// Deterministic demo data: a small shop whose tables hold the kinds of data Airlock exists to
// protect (names, emails, phones, SSNs, card numbers, addresses, live-looking API tokens).
// Everything is generated from a fixed seed so screenshots, docs and tests agree run after run.
// Emails use the reserved example.* domains and phones the fictional 555-01xx range; card numbers
// use the public test prefixes; tokens only look real.
import { luhnCheckDigit, luhnValid as luhnValidDigits } from '../../../core/mask/checksums.js';

export const DEMO_COUNTS = { customers: 200, products: 40, orders: 1000, supportTickets: 150, apiKeys: 60 } as const;

/** mulberry32: tiny, fast and good enough for fixtures. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FIRST = ['Ada', 'Grace', 'Alan', 'Linus', 'Margaret', 'Dennis', 'Barbara', 'Ken', 'Frances', 'Edsger', 'Radia', 'Donald', 'Hedy', 'Tim', 'Katherine', 'Guido', 'Sophie', 'Niklaus', 'Joan', "Liam", 'Mei', 'Ravi', 'Aisha', 'Jonas', 'Chloé', 'Mateo', 'Zoë', 'Kwame', 'Yuki', 'Ingrid'];
const LAST = ['Lovelace', 'Hopper', 'Turing', 'Torvalds', 'Hamilton', 'Ritchie', 'Liskov', 'Thompson', 'Allen', 'Dijkstra', 'Perlman', 'Knuth', 'Lamarr', "O'Brien", 'Johnson', 'van Rossum', 'Wilson', 'Wirth', 'Clarke', 'Nguyen', 'Patel', 'García', 'Okafor', 'Schmidt', 'Tanaka', 'Larsen', 'Müller', 'Rossi', 'Kowalski', 'Dubois'];
const STREETS = ['Maple St', 'Oak Ave', 'Pine Rd', 'Cedar Ln', 'Elm St', 'Harbor Blvd', 'Mill Rd', 'Lake Dr', 'Sunset Ave', 'Ridge Way'];
const CITIES: [string, string, string][] = [
  ['Springfield', 'IL', '627'], ['Portland', 'OR', '972'], ['Austin', 'TX', '787'], ['Madison', 'WI', '537'],
  ['Burlington', 'VT', '054'], ['Boulder', 'CO', '803'], ['Raleigh', 'NC', '276'], ['Tucson', 'AZ', '857'],
];
const AREA_CODES = ['212', '312', '415', '503', '617', '720', '512', '608'];
const PRODUCTS: [string, string, number][] = [
  ['Mechanical keyboard', 'peripherals', 12900], ['Wireless mouse', 'peripherals', 3900], ['27" monitor', 'displays', 32900],
  ['USB-C hub', 'accessories', 4900], ['Laptop stand', 'accessories', 5900], ['Noise-cancelling headphones', 'audio', 24900],
  ['Webcam 1080p', 'peripherals', 6900], ['Desk lamp', 'office', 3400], ['Ergonomic chair', 'office', 41900], ['Standing desk', 'office', 59900],
];
const ORDER_STATUSES = ['pending', 'paid', 'shipped', 'delivered', 'delivered', 'delivered', 'refunded', 'cancelled'];
const TICKET_SUBJECTS = ['Double charge', 'Where is my order?', 'Change shipping address', 'Refund request', 'Account locked', 'Wrong item received'];
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const BASE_TIME = Date.UTC(2024, 0, 1);

export interface DemoCustomer {
  id: number;
  fullName: string;
  email: string;
  phone: string;
  ssn: string;
  cardNumber: string;
}

export { luhnCheckDigit };

/** Luhn over a card number as printed (separators ignored). */
export function luhnValid(number: string): boolean {
  const digits = number.replace(/\D/g, '');
  return digits.length > 1 && luhnValidDigits(digits);
}

const q = (v: string): string => `'${v.replace(/'/g, "''")}'`;

export interface DemoSeed {
  sql: string;
  customers: DemoCustomer[];
}

export function demoSeed(seed = 20240601): DemoSeed {
  const rnd = prng(seed);
  const int = (lo: number, hi: number): number => lo + Math.floor(rnd() * (hi - lo + 1));
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const chars = (n: number, alphabet = ALNUM): string => Array.from({ length: n }, () => pick([...alphabet])).join('');
  const digits = (n: number): string => Array.from({ length: n }, () => String(int(0, 9))).join('');
  const time = (maxDays: number): string => new Date(BASE_TIME + rnd() * maxDays * 86_400_000).toISOString();

  const card = (): string => {
    const prefix = pick(['411111', '400000', '555555', '510510', '378282']);
    const length = prefix.startsWith('37') ? 15 : 16;
    const partial = prefix + digits(length - prefix.length - 1);
    return partial + luhnCheckDigit(partial);
  };
  // Valid-shaped SSNs (area 001-665/667-899) so masking detectors have something to find.
  const ssn = (): string => {
    let area = int(1, 899);
    if (area === 666) area = 667;
    return `${String(area).padStart(3, '0')}-${String(int(1, 99)).padStart(2, '0')}-${String(int(1, 9999)).padStart(4, '0')}`;
  };

  const customers: DemoCustomer[] = [];
  const customerRows: string[] = [];
  for (let id = 1; id <= DEMO_COUNTS.customers; id++) {
    const first = pick(FIRST);
    const last = pick(LAST);
    const [city, state, zip] = pick(CITIES);
    const c: DemoCustomer = {
      id,
      fullName: `${first} ${last}`,
      email: `${first}.${last}${id}`.toLowerCase().normalize('NFD').replace(/[^a-z0-9.]/g, '') + `@example.${pick(['com', 'org', 'net'])}`,
      phone: `+1-${pick(AREA_CODES)}-555-01${digits(2)}`,
      ssn: ssn(),
      cardNumber: card(),
    };
    customers.push(c);
    customerRows.push(
      `(${id}, ${q(c.fullName)}, ${q(c.email)}, ${q(c.phone)}, ${q(c.ssn)}, ${q(c.cardNumber)}, ` +
        `${q(`${int(1, 9999)} ${pick(STREETS)}`)}, ${q(city)}, ${q(state)}, ${q(zip + digits(2))}, ${q(time(365))})`,
    );
  }

  const productRows = Array.from({ length: DEMO_COUNTS.products }, (_, i) => {
    const [name, category, price] = PRODUCTS[i % PRODUCTS.length]!;
    const edition = Math.floor(i / PRODUCTS.length);
    return `(${i + 1}, ${q(`SKU-${String(1000 + i)}`)}, ${q(edition ? `${name} (gen ${edition + 1})` : name)}, ${q(category)}, ${price + edition * 1000}, ${int(0, 500)})`;
  });

  const orderRows: string[] = [];
  const itemRows: string[] = [];
  let itemId = 1;
  for (let id = 1; id <= DEMO_COUNTS.orders; id++) {
    let total = 0;
    const lines = int(1, 4);
    for (let l = 0; l < lines; l++) {
      const product = int(1, DEMO_COUNTS.products);
      const [, , base] = PRODUCTS[(product - 1) % PRODUCTS.length]!;
      const price = base + Math.floor((product - 1) / PRODUCTS.length) * 1000;
      const qty = int(1, 3);
      total += price * qty;
      itemRows.push(`(${itemId++}, ${id}, ${product}, ${qty}, ${price})`);
    }
    orderRows.push(`(${id}, ${int(1, DEMO_COUNTS.customers)}, ${q(pick(ORDER_STATUSES))}, ${q(time(540))}, ${total})`);
  }

  const ticketRows = Array.from({ length: DEMO_COUNTS.supportTickets }, (_, i) => {
    const c = pick(customers);
    const subject = pick(TICKET_SUBJECTS);
    const body = pick([
      `Hi, this is ${c.fullName}. Please reach me at ${c.email} or call ${c.phone}.`,
      `My card ${c.cardNumber.replace(/(\d{4})(?=\d)/g, '$1 ')} was charged twice for order #${int(1, DEMO_COUNTS.orders)}.`,
      `Please update my phone to ${c.phone}; my old email ${c.email} no longer works.`,
      `For verification my SSN is ${c.ssn}. I cannot log in since yesterday.`,
      `Order #${int(1, DEMO_COUNTS.orders)} arrived damaged. Contact: ${c.email}.`,
    ]);
    return `(${i + 1}, ${c.id}, ${q(subject)}, ${q(body)}, ${q(pick(['open', 'pending', 'closed']))}, ${q(time(540))})`;
  });

  const keyRows = Array.from({ length: DEMO_COUNTS.apiKeys }, (_, i) => {
    const [service, token] = pick([
      ['github', () => `ghp_${chars(36)}`],
      ['stripe', () => `sk_live_${chars(24)}`],
      ['slack', () => `xoxb-${digits(12)}-${digits(13)}-${chars(24)}`],
      ['aws', () => `AKIA${chars(16, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567')}`],
    ] as const);
    return `(${i + 1}, ${int(1, DEMO_COUNTS.customers)}, ${q(service)}, ${q(token())}, ${q(time(365))}, ${rnd() < 0.3 ? 'NULL' : q(time(540))})`;
  });

  const sql = `
CREATE TABLE customers (
  id integer PRIMARY KEY, full_name text NOT NULL, email text NOT NULL UNIQUE, phone text, ssn text,
  card_number text, address_line text, city text, state text, postal_code text, created_at timestamptz NOT NULL
);
CREATE TABLE products (
  id integer PRIMARY KEY, sku text NOT NULL UNIQUE, name text NOT NULL, category text NOT NULL,
  price_cents integer NOT NULL, stock integer NOT NULL
);
CREATE TABLE orders (
  id integer PRIMARY KEY, customer_id integer NOT NULL REFERENCES customers(id), status text NOT NULL,
  ordered_at timestamptz NOT NULL, total_cents integer NOT NULL
);
CREATE TABLE order_items (
  id integer PRIMARY KEY, order_id integer NOT NULL REFERENCES orders(id), product_id integer NOT NULL REFERENCES products(id),
  quantity integer NOT NULL, unit_price_cents integer NOT NULL
);
CREATE TABLE support_tickets (
  id integer PRIMARY KEY, customer_id integer NOT NULL REFERENCES customers(id), subject text NOT NULL,
  body text NOT NULL, status text NOT NULL, opened_at timestamptz NOT NULL
);
COMMENT ON TABLE support_tickets IS 'free text written by customers: may contain any personal data';
CREATE TABLE api_keys (
  id integer PRIMARY KEY, customer_id integer NOT NULL REFERENCES customers(id), service text NOT NULL,
  token text NOT NULL, created_at timestamptz NOT NULL, last_used_at timestamptz
);
COMMENT ON TABLE api_keys IS 'demo fixtures: the tokens look real but are random and grant nothing';
CREATE INDEX orders_customer_id ON orders(customer_id);
CREATE INDEX order_items_order_id ON order_items(order_id);
INSERT INTO customers VALUES ${customerRows.join(',\n')};
INSERT INTO products VALUES ${productRows.join(',\n')};
INSERT INTO orders VALUES ${orderRows.join(',\n')};
INSERT INTO order_items VALUES ${itemRows.join(',\n')};
INSERT INTO support_tickets VALUES ${ticketRows.join(',\n')};
INSERT INTO api_keys VALUES ${keyRows.join(',\n')};
ANALYZE;
`;
  return { sql, customers };
}
