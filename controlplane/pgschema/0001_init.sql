-- apimcp schema 1: what the bbolt file holds, as tables. Applied once, in one
-- transaction, by the first apimcp that starts on an empty database.

-- The configuration revision: one row, locked (SELECT ... FOR UPDATE) by every
-- configuration write, so writes of all apimcp processes are serialized, and
-- bumped by each, so every process sees that it must reload.
CREATE TABLE apimcp_revision (
	id  integer PRIMARY KEY CHECK (id = 1),
	rev bigint  NOT NULL
);
INSERT INTO apimcp_revision (id, rev) VALUES (1, 0);

-- Configuration resources and gateway snapshot versions, one row per bbolt
-- record: bucket (apis, operations, ..., gatewayVersions), key, JSON value.
CREATE TABLE apimcp_records (
	bucket text NOT NULL,
	key    text NOT NULL,
	value  json NOT NULL,
	PRIMARY KEY (bucket, key)
);

-- The last heartbeat of each gateway (GatewayStatus as JSON).
CREATE TABLE apimcp_gateway_status (
	gateway    text        PRIMARY KEY,
	status     json        NOT NULL,
	updated_at timestamptz NOT NULL DEFAULT now()
);

-- Telemetry: one row per record, its identity (time, gateway, stream, seq)
-- the primary key, so a batch uploaded twice (to any apimcp) is stored once.
-- data is the wire record as the gateway sent it. "C" collation: the order
-- is that of the bbolt keys (bytes).
CREATE TABLE apimcp_telemetry (
	ts      bigint NOT NULL, -- Unix nanoseconds
	gateway text COLLATE "C" NOT NULL,
	stream  text COLLATE "C" NOT NULL,
	seq     bigint NOT NULL,
	data    bytea  NOT NULL,
	PRIMARY KEY (ts, gateway, stream, seq)
);
