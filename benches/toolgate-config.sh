# Sourced by the load scripts: the config every benchmarked toolgate runs with, the shipped
# defaults but for its ports, its bundle copy and its audit trail (to a file, outside the
# bundle's dir and its parent, both watched for reloads, as in a Pod).
#
#   toolgate_config LISTEN_PORT ADMIN_PORT UPSTREAM_PORT BUNDLE_DIR AUDIT_FILE >toolgate.yaml
toolgate_config() {
  cat <<EOF_CONFIG
apiVersion: toolgate.dev/v1alpha1
kind: Config
listen: 127.0.0.1:$1
admin_listen: 127.0.0.1:$2
upstream:
  url: http://127.0.0.1:$3
policies: $4
audit:
  sink: file
  path: $5
EOF_CONFIG
}
