-- Security IP groups (ModifySecurityIps): the client addresses allowed to log in to an
-- instance's engine, by whitelist group. instances.security_ip_list keeps their union, as
-- DescribeDBInstanceAttribute shows it. An instance without rows here has one group,
-- `default`, holding instances.security_ip_list.
CREATE TABLE security_ip_groups (
    instance_id  TEXT NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    -- Comma-separated IPv4 addresses and CIDR blocks, as given.
    ips          TEXT NOT NULL,
    attribute    TEXT NOT NULL,
    ip_type      TEXT NOT NULL,
    network_type TEXT NOT NULL,
    PRIMARY KEY (instance_id, name)
) STRICT;
