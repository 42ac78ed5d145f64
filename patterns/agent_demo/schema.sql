-- The agent's demo sales database: tables and reference data. Sales rows are generated relative to the day the
-- database is created (patterns/agent_demo/__init__.py), so "last month" always has data.
CREATE TABLE regions (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);
CREATE TABLE products (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    category TEXT NOT NULL,
    unit_price NUMERIC NOT NULL  -- USD
);
CREATE TABLE customers (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    region_id INTEGER NOT NULL REFERENCES regions(id),
    segment TEXT NOT NULL  -- 'enterprise' | 'smb' | 'consumer'
);
CREATE TABLE sales (
    id INTEGER PRIMARY KEY,
    sale_date TEXT NOT NULL,  -- ISO date, YYYY-MM-DD
    customer_id INTEGER NOT NULL REFERENCES customers(id),
    product_id INTEGER NOT NULL REFERENCES products(id),
    quantity INTEGER NOT NULL,
    amount NUMERIC NOT NULL  -- USD, quantity * unit_price less any discount
);
CREATE INDEX sales_by_date ON sales(sale_date);
CREATE TABLE demo_info (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

INSERT INTO regions (id, name) VALUES (1, 'North America'), (2, 'Europe'), (3, 'Asia Pacific'),
    (4, 'Latin America');

INSERT INTO products (id, name, category, unit_price) VALUES
    (1, 'Starter plan', 'subscription', 29.00),
    (2, 'Team plan', 'subscription', 99.00),
    (3, 'Enterprise plan', 'subscription', 499.00),
    (4, 'Onboarding workshop', 'services', 1200.00),
    (5, 'Priority support', 'services', 250.00),
    (6, 'Analytics add-on', 'add-on', 49.00);

INSERT INTO customers (id, name, region_id, segment) VALUES
    (1, 'Acme Corp', 1, 'enterprise'), (2, 'Globex', 1, 'enterprise'), (3, 'Initech', 1, 'smb'),
    (4, 'Umbrella GmbH', 2, 'enterprise'), (5, 'Nordwind AB', 2, 'smb'), (6, 'Bistro Lumière', 2, 'consumer'),
    (7, 'Sakura Systems', 3, 'enterprise'), (8, 'Koala Labs', 3, 'smb'), (9, 'Lotus Retail', 3, 'consumer'),
    (10, 'Andes Logística', 4, 'smb'), (11, 'Rio Digital', 4, 'enterprise'), (12, 'Pampa Foods', 4, 'consumer');
