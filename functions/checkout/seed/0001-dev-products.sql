-- The dev catalogue. Re-running restores these rows and leaves everything else alone.
INSERT INTO products (sku, name, price_cents) VALUES
    ('TEA-001',    'Loose-leaf green tea, 100 g', 1200),
    ('MUG-002',    'Stoneware mug',                900),
    ('KETTLE-003', 'Gooseneck kettle',            4500)
ON CONFLICT (sku) DO UPDATE SET name = EXCLUDED.name, price_cents = EXCLUDED.price_cents;
