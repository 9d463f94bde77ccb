-- Indexes for the API's and dashboard's hot reads: the newest orders page, and the mismatches
-- still open (a small set inside a table that keeps every reconciliation's history).
CREATE INDEX orders_created ON orders (created_at, client_order_id);
CREATE INDEX reconciliation_unresolved ON reconciliation_mismatches (id) WHERE resolved_at IS NULL;
