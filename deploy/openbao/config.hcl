# OpenBao server for docker-compose: integrated (raft) storage on the `openbao` volume.
# Initialise and unseal it once by hand (`bao operator init`, `bao operator unseal`), or
# configure auto-unseal with a cloud KMS `seal` stanza; then enable KV v2 at `secret/`.
storage "raft" {
  path    = "/openbao/data"
  node_id = "openbao-1"
}

listener "tcp" {
  address     = "0.0.0.0:8200"
  # Terminate TLS here (tls_cert_file / tls_key_file) or in front of it outside a private
  # network.
  tls_disable = true
}

api_addr     = "http://openbao:8200"
cluster_addr = "http://openbao:8201"
ui           = true
