# shellcheck shell=bash
# Shared by the deployment tests (deploy/container/test.sh,
# deploy/systemd/test.sh); source it. One way to make the simulated
# platform, the daemon's configuration and a week to publish, and to trigger
# and check a run on the admin endpoint. Tests only talk to 127.0.0.1.
#
# Needs: date (GNU), python3, curl.

# The weeks the daemon may publish: the coming Monday in Chicago, and the
# one after it. The daemon picks its week when a run is triggered, a minute
# or two after this line: a test that straddles Sunday midnight in Chicago
# finds the next week's schedule and file there too.
sim_week="$(TZ=America/Chicago date -d 'next monday' +%F)"
sim_weeks="$sim_week $(date -d "$sim_week + 7 days" +%F)"
# The OAuth client's secret in the scenario.
sim_secret="publisher-secret"

# A free TCP port on 127.0.0.1.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# sim_scenario FILE: one organization, one OAuth client with every scope,
# a Chicago schedule of three agents for each of $sim_weeks. Shaped like the dev
# mode's scenario (src/dev/mod.rs) on purpose, not taken from it: these
# tests check the shipped artefacts with nothing but a shell.
sim_scenario() {
  cat > "$1" <<TOML
[[organizations]]
id = "org-acme"
name = "Acme Support"

[[clients]]
client_id = "publisher"
client_secret = "$sim_secret"
org_id = "org-acme"
scopes = ["wfm:schedule:read", "wfm:schedule:write", "wfm:admin", "org:read"]
TOML
  local week
  for week in $sim_weeks; do
    cat >> "$1" <<TOML

[[schedules]]
id = "chicago-$week"
org_id = "org-acme"
week_start = "$week"
time_zone = "America/Chicago"
agent_prefix = "a-"
agent_count = 3
TOML
  done
}

# sim_start BINARY DIR: serves DIR/scenario.toml on a free loopback port in
# the background; sets sim_pid, and sim_base to its URL, or fails saying why.
sim_start() {
  local bin="$1" dir="$2"
  "$bin" --log-format json sim --scenario "$dir/scenario.toml" --as-written --listen 127.0.0.1:0 \
    > "$dir/sim.out" 2>"$dir/sim.log" &
  # shellcheck disable=SC2034 # read by the scripts that source this file
  sim_pid=$!
  for _ in $(seq 100); do grep -q "listening on" "$dir/sim.out" && break; sleep 0.1; done
  sim_base="$(sed -n 's/^listening on //p' "$dir/sim.out")"
  [ -n "$sim_base" ] || { cat "$dir/sim.log"; echo "the simulator did not start" >&2; return 1; }
}

# sim_week_csv DIR: for each of $sim_weeks, DIR/WEEK.csv with the three
# agents' shifts of that week, one past midnight.
sim_week_csv() {
  local week sat
  for week in $sim_weeks; do
    sat="$(date -d "$week + 5 days" +%F)"
    {
      echo "agent_id,date,start,end,activity"
      echo "a-1,$week,08:00,16:00,phone"
      echo "a-2,$week,12:00,20:00,email"
      echo "a-3,$sat,22:00,06:00,phone"
    } > "$1/$week.csv"
  done
}

# sim_config FILE BASE_URL ADMIN_PORT INBOX_DIR [SECRETS_DIR]: the daemon's
# configuration with target chicago reading INBOX_DIR/{week_start}.csv.
# With SECRETS_DIR, the client secret and admin token are read from files
# there; without it, from systemd credentials ($CREDENTIALS_DIRECTORY).
sim_config() {
  local file="$1" base="$2" admin_port="$3" inbox="$4" secrets="${5:-}"
  local secret_line="" token_line=""
  if [ -n "$secrets" ]; then
    secret_line="client_secret_file = \"$secrets/client_secret\""
    token_line="token_file = \"$secrets/admin_token\""
  fi
  cat > "$file" <<TOML
[platform]
auth_base_url = "$base"
api_base_url = "$base"
allow_insecure_http = true
client_id = "publisher"
$secret_line

[admin]
listen = "127.0.0.1:$admin_port"
$token_line

[targets.chicago]
schedule_id = "chicago-{week_start}"
time_zone = "America/Chicago"
cron = "0 6 * * 4"
catch_up = "0s"
source = "$inbox/{week_start}.csv"
TOML
}

# sim_publish ADMIN_PORT TOKEN: triggers a run of chicago and waits (30 s at
# most) for its outcome; succeeds only if it is "success". Prints the outcome.
sim_publish() {
  local admin="http://127.0.0.1:$1" token="$2" outcome=""
  curl -fsS -X POST -H "Authorization: Bearer $token" "$admin/targets/chicago/runs" >/dev/null || return 1
  for _ in $(seq 150); do
    outcome="$(curl -fsS -H "Authorization: Bearer $token" "$admin/status" | python3 -c 'import json,sys; t=json.load(sys.stdin)["targets"][0]; print((t.get("last_run") or {}).get("outcome",""))')" || true
    [ "$outcome" = "success" ] && break
    sleep 0.2
  done
  echo "${outcome:-none}"
  [ "$outcome" = "success" ]
}
