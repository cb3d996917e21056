#!/usr/bin/env bash
# Mints the tokens policies/tools-signed/tests.yaml uses, with the EXAMPLE-ONLY private keys
# next to this script. Run from the repository root after changing a test request or a key:
#   bash policies/tools-signed/example-private-keys/mint-test-tokens.sh
# and paste the printed values into tests.yaml (each line is NAME=token).
# Identity tokens are long-lived (tests run at fixed instants); approvals are minted as of
# the test's instant, bound to the exact request (route, method, path, body digest,
# environment, actor).
set -euo pipefail
here=policies/tools-signed/example-private-keys
tg=${TOOLGATE:-target/debug/toolgate}
idp="$here/idp.es256.key.pem"
approvals="$here/approvals.ed25519.key.pem"
iat=2026-03-01T00:00:00Z

identity() { # name sub roles-json
  echo "$1=$("$tg" token --key "$idp" --kid example-idp-2026-03 --now "$iat" --ttl 87600h \
    --claims "{\"iss\":\"https://idp.example.test\",\"aud\":\"toolgate\",\"sub\":\"$2\",\"roles\":$3}")"
}
identity FINANCE agent-7 '["finance_operator"]'
identity RELEASE agent-3 '["release_manager"]'
identity ADMIN agent-5 '["viewer","platform_admin"]'
identity VIEWER agent-9 '["viewer"]'
echo "WRONG_AUDIENCE=$("$tg" token --key "$idp" --kid example-idp-2026-03 --now "$iat" --ttl 87600h \
  --claims '{"iss":"https://idp.example.test","aud":"another-service","sub":"agent-7","roles":["finance_operator"]}')"
echo "EXPIRED=$("$tg" token --key "$idp" --kid example-idp-2026-03 --now 2026-03-15T00:00:00Z --ttl 1h \
  --claims '{"iss":"https://idp.example.test","aud":"toolgate","sub":"agent-7","roles":["finance_operator"]}')"
stranger=$(mktemp)
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$stranger" 2>/dev/null
echo "FORGED=$("$tg" token --key "$stranger" --kid example-idp-2026-03 --now "$iat" --ttl 87600h \
  --claims '{"iss":"https://idp.example.test","aud":"toolgate","sub":"agent-7","roles":["platform_admin"]}')"

approve() { # name key approver route method path body env actor now ttl
  local digest
  digest=$(printf '%s' "$7" | sha256sum | cut -d' ' -f1)
  local req="{\"binding\":{\"route\":\"$4\",\"method\":\"$5\",\"path\":\"$6\",\"body_sha256\":\"$digest\",\"environment\":\"$8\",\"actor\":\"$9\"}}"
  echo "$1=$(echo "$req" | "$tg" approve --key "$2" --approver "$3" --now "${10}" --ttl "${11}" 2>/dev/null)"
}
payout='{"amount": 100, "currency": "EUR", "destination": "acct-1"}'
deploy='{"service": "payments", "release": "2026.03.16", "environment": "production"}'
approve PAYOUT_100 "$approvals" alice.finance-lead payouts-create POST /payments/v1/payouts "$payout" production agent-7 2026-03-16T09:45:00Z 30m
approve DELETE_PROD "$approvals" bob.sre-lead tenants-delete DELETE /db/v1/tenants/t-42 "" production agent-5 2026-03-16T09:45:00Z 30m
approve DELETE_STAGING "$approvals" bob.sre-lead tenants-delete DELETE /db/v1/tenants/t-42 "" staging agent-5 2026-03-16T09:45:00Z 30m
approve DELETE_SELF "$approvals" agent-5 tenants-delete DELETE /db/v1/tenants/t-42 "" production agent-5 2026-03-16T09:45:00Z 30m
approve DEPLOY_PROD "$approvals" bob.sre-lead deployments-create POST /deploy/v1/deployments "$deploy" production agent-3 2026-03-16T09:45:00Z 30m
openssl genpkey -algorithm ed25519 -out "$stranger" 2>/dev/null
approve DELETE_FORGED "$stranger" bob.sre-lead tenants-delete DELETE /db/v1/tenants/t-42 "" production agent-5 2026-03-16T09:45:00Z 30m
rm -f "$stranger"
