-- A sample CRM on PostgreSQL for examples/connectors/dsr.toml: customers, their orders,
-- support tickets (linked to an order, or only to an email) and the tickets'
-- attachments, plus a products table no subject owns. The customers are people of
-- examples/data/sample-subjects.jsonl (and one namesake who is not).
--
--   createdb crm && psql crm -f examples/connectors/crm.sql

CREATE TABLE customers (
    id          integer PRIMARY KEY,
    email       varchar(200) UNIQUE,
    full_name   text NOT NULL,
    phone       text,
    crm_ref     text UNIQUE,
    notes       text
);

CREATE TABLE orders (
    id               integer PRIMARY KEY,
    customer_id      integer NOT NULL REFERENCES customers (id),
    placed_at        date NOT NULL,
    total            numeric(10, 2) NOT NULL,
    shipping_address text
);

CREATE TABLE tickets (
    id             integer PRIMARY KEY,
    order_id       integer REFERENCES orders (id),
    customer_email text,
    subject        text NOT NULL,
    body           text
);

CREATE TABLE attachments (
    id         integer PRIMARY KEY,
    ticket_id  integer NOT NULL REFERENCES tickets (id),
    file_name  text NOT NULL,
    mime       text,
    content    bytea NOT NULL
);

CREATE TABLE products (id integer PRIMARY KEY, name text NOT NULL);

INSERT INTO customers VALUES
  (1, 'jean.dupont@example.fr', 'Jean Dupont', '+33 6 12 34 56 78', 'CRM-88231', 'prefers phone calls'),
  (2, 'zoe.faure@gmail.com', 'Zoë Faure', '+33 7 81 22 33 44', NULL, NULL),
  (3, 'j.mueller@beispiel.de', 'Jürgen Müller', '+49 30 12345678', NULL, NULL),
  (4, 'jean.dupont@autre.example', 'Jean Dupont', NULL, NULL, 'a namesake: not c-1001');

INSERT INTO orders VALUES
  (10, 1, '2026-01-05', 42.00, '12 rue de la Paix, 75002 Paris'),
  (11, 1, '2026-02-11', 19.90, '12 rue de la Paix, 75002 Paris'),
  (12, 2, '2026-02-14', 7.50, '8 bd Saint-Michel, 75006 Paris'),
  (13, 4, '2026-03-01', 99.00, 'somewhere else');

INSERT INTO tickets VALUES
  (100, 10, NULL, 'parcel late', 'Bonjour, mon colis est en retard.'),
  (101, NULL, 'Jean.Dupont@example.fr', 'invoice copy', 'Could you send the invoice again?'),
  (102, 12, NULL, 'wrong size', 'Zoë: the size is wrong.'),
  (103, 13, NULL, 'hello', 'from the namesake');

INSERT INTO attachments VALUES
  (1000, 100, 'photo.jpg', 'image/jpeg', '\x66616b65206a706567'::bytea),
  (1001, 101, 'id-card.pdf', 'application/pdf', '\x66616b6520706466'::bytea),
  (1002, 102, 'label.png', 'image/png', '\x66616b6520706e67'::bytea);

INSERT INTO products VALUES (1, 'teapot'), (2, 'kettle');
