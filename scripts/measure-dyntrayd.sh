#!/usr/bin/env bash
# Prints what the headless daemon costs while idle, beside inadyn and ddclient measured in
# the same run (a benchmark to read and report, not a test).
#
# Each client gets the same job: 10 names (2 dyndns2 accounts x 5) on fake-provider at
# 127.0.0.1, the address asked of the fake server's /ip, a 5-minute check interval, its
# files in a temp dir. After its first updates have gone out, it is left idle for
# IDLE_SECONDS (default 60), then measured from /proc: RSS, PSS (anonymous and
# file-backed), peak RSS, threads, wake-ups (voluntary context switches, all threads),
# CPU ticks, and requests sent while idle. The clients run one after the other.
#
# dyntrayd is the packaged binary: taken out of target/package/dyntray_*.deb (built with
# `make package` when missing). inadyn and ddclient are Debian's packages (installed when
# missing).
#   scripts/measure-dyntrayd.sh
#   ONLY=dyntrayd ...           # just one client (dyntrayd, inadyn or ddclient)
#   DYNTRAYD=path/to/dyntrayd   # another dyntrayd binary (say, target/release/dyntrayd)
#   DETAIL=1 ...                # also the largest mappings by RSS of each
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
idle=${IDLE_SECONDS:-60}
target_dir=${CARGO_TARGET_DIR:-$root/target}
clients=(${ONLY:-dyntrayd inadyn ddclient})

work=$(mktemp -d)
fake_pid=""
client_pid=""
sleep_pid=""
stop() { # pid: TERM, up to 5 s, then KILL; always reaped
    local pid=$1 i
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    [ -z "$sleep_pid" ] || kill "$sleep_pid" 2>/dev/null || true
    stop "$client_pid"
    stop "$fake_pid"
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- The binaries -------------------------------------------------------------------
daemon_bin=${DYNTRAYD:-}
if [ -z "$daemon_bin" ] && [[ " ${clients[*]} " == *" dyntrayd "* ]]; then
    debs=("$target_dir"/package/dyntray_*.deb)
    [ -f "${debs[0]}" ] || NO_CHECK=1 scripts/package-deb.sh
    debs=("$target_dir"/package/dyntray_*.deb)
    dpkg-deb -x "${debs[0]}" "$work/package"
    daemon_bin=$work/package/usr/bin/dyntrayd
fi
for client in "${clients[@]}"; do
    case $client in
        dyntrayd) ;;
        inadyn) command -v inadyn >/dev/null || scripts/apt-install.sh inadyn ;;
        ddclient) command -v ddclient >/dev/null || scripts/apt-install.sh ddclient ;;
        *) echo "unknown client $client (dyntrayd, inadyn or ddclient)" >&2; exit 2 ;;
    esac
done
fake_bin=$target_dir/debug/fake-provider
[ -x "$fake_bin" ] || cargo build -q -p dyntray-tests --bin fake-provider

# A private XDG layout; HOME points inside it too.
unset DYNTRAY_CONFIG DYNTRAY_SOCKET
export XDG_CONFIG_HOME="$work/config" XDG_DATA_HOME="$work/data"
export XDG_STATE_HOME="$work/state" XDG_RUNTIME_DIR="$work/runtime"
mkdir -p "$XDG_CONFIG_HOME/dyntray" "$XDG_DATA_HOME" "$XDG_STATE_HOME" "$work/home"
mkdir -m 700 "$XDG_RUNTIME_DIR"

# shellcheck source=scripts/fake-setup.sh
. "$root/scripts/fake-setup.sh"
start_fake_provider
host_port=${server#http://}
names() { # account: its five names, comma-separated
    printf 'h1.acct%s.example.org,h2.acct%s.example.org,h3.acct%s.example.org,' "$1" "$1" "$1"
    printf 'h4.acct%s.example.org,h5.acct%s.example.org' "$1" "$1"
}

# --- Each client's config, the same job ----------------------------------------------
write_ten_record_config # dyntrayd's, with secrets in 0600 files
{
    printf 'period = 300\n'
    for a in 1 2; do
        printf 'custom acct%s@fake {\n    username = user%s\n    password = pass-%s\n' "$a" "$a" "$a"
        printf '    ssl = false\n    ddns-server = "%s"\n' "$host_port"
        printf '    ddns-path = "/nic/update?hostname=%%h&myip=%%i"\n'
        printf '    checkip-server = "%s"\n    checkip-path = "/ip"\n    checkip-ssl = false\n' \
            "$host_port"
        printf '    hostname = { "%s" }\n}\n' "$(names "$a" | sed 's/,/", "/g')"
    done
} >"$work/inadyn.conf"
{
    printf 'daemon=300\nsyslog=no\nssl=no\npid=%s/ddclient.pid\n' "$work"
    printf 'usev4=webv4, webv4=%s/ip\n' "$server"
    for a in 1 2; do
        printf 'protocol=dyndns2, server=%s, login=user%s, password=pass-%s \\\n%s\n' \
            "$host_port" "$a" "$a" "$(names "$a")"
    done
} >"$work/ddclient.conf"
chmod 600 "$work/ddclient.conf"

start_client() { # client: starts it, sets client_pid
    case $1 in
        dyntrayd)
            HOME="$work/home" "$daemon_bin" check-config >/dev/null
            HOME="$work/home" "$daemon_bin" run 2>"$work/client.log" &
            ;;
        inadyn)
            mkdir -p "$work/inadyn-cache"
            inadyn -n --no-pidfile -f "$work/inadyn.conf" --cache-dir="$work/inadyn-cache" \
                -l notice >"$work/client.log" 2>&1 &
            ;;
        ddclient)
            ddclient -foreground -file "$work/ddclient.conf" -cache "$work/ddclient.cache" \
                >"$work/client.log" 2>&1 &
            ;;
    esac
    client_pid=$!
}

# Names updated so far (batched or one by one, each name counts once).
updated_names() {
    sed -n 's/^GET \/nic\/update names=\([^ ]*\) .*/\1/p' "$work/fake.log" | tr ',' '\n' |
        sort -u | grep -c . || true
}

proc_kib() { awk -v k="$1:" '$1 == k {print $2; exit}' "$2"; }
mib() { awk -v v="$1" 'BEGIN {printf "%.1f", v / 1024}'; }
declare -A row

measure() { # client
    local client=$1 proc ready="" i
    start_fake_log=$(wc -l <"$work/fake.log")
    start_client "$client"
    proc=/proc/$client_pid
    for i in $(seq 600); do
        kill -0 "$client_pid" 2>/dev/null || { cat "$work/client.log" >&2; return 1; }
        if [ "$(updated_names)" -ge 10 ]; then
            ready=1
            break
        fi
        sleep 0.1
    done
    [ -n "$ready" ] || {
        echo "$client did not update the 10 names:" >&2
        cat "$work/client.log" >&2
        return 1
    }
    sleep 2 # let it settle after the last answer
    local requests0 vol0 ticks0 vol1 ticks1
    requests0=$(wc -l <"$work/fake.log")
    # Per thread, so that a worker thread ending while idle does not take its count away:
    # the wake-ups are those of the threads alive at both ends, plus any thread born since.
    switches() {
        local task
        for task in "$proc"/task/*; do
            printf '%s %s\n' "${task##*/}" \
                "$(awk '$1 == "voluntary_ctxt_switches:" {print $2}' "$task/status" 2>/dev/null)"
        done
    }
    ticks() { sed 's/^.*) //' "$proc/stat" | awk '{print $12 + $13}'; } # utime + stime
    vol0=$(switches)
    ticks0=$(ticks)
    sleep "$idle" &
    sleep_pid=$!
    wait "$sleep_pid"
    sleep_pid=""
    kill -0 "$client_pid" 2>/dev/null || { echo "$client died while idle" >&2; return 1; }
    vol1=$(switches)
    ticks1=$(ticks)
    local exe
    exe=$(readlink "$proc/exe")
    [ "$client" = ddclient ] && exe=$(command -v ddclient) # the script, not perl
    row[$client,rss]=$(mib "$(proc_kib Rss "$proc/smaps_rollup")")
    row[$client,pss]=$(mib "$(proc_kib Pss "$proc/smaps_rollup")")
    row[$client,anon]=$(mib "$(proc_kib Pss_Anon "$proc/smaps_rollup")")
    row[$client,file]=$(mib "$(proc_kib Pss_File "$proc/smaps_rollup")")
    row[$client,hwm]=$(mib "$(proc_kib VmHWM "$proc/status")")
    row[$client,threads]=$(proc_kib Threads "$proc/status")
    row[$client,wakeups]=$(awk 'NR == FNR {before[$1] = $2; next} {s += $2 - before[$1]}
        END {print s + 0}' <(printf '%s\n' "$vol0") <(printf '%s\n' "$vol1"))
    row[$client,ticks]=$((ticks1 - ticks0))
    row[$client,idle_requests]=$(($(wc -l <"$work/fake.log") - requests0))
    row[$client,requests]=$((requests0 - start_fake_log))
    row[$client,size]=$(mib "$(($(stat -L -c %s "$exe") / 1024))")
    row[$client,version]=$(case $client in
        dyntrayd) "$daemon_bin" --version | awk '{print $2}' ;;
        *) dpkg-query -W -f='${Version}' "$client" ;;
    esac)
    if [ "${DETAIL:-0}" = 1 ]; then
        echo "$client: largest mappings by RSS (KiB)"
        awk '/^[0-9a-f]+-[0-9a-f]+ / {name = (NF >= 6 ? $6 : "[anon]"); perm = $2}
             $1 == "Rss:" {rss[name " " perm] += $2}
             END {for (m in rss) if (rss[m] > 0) printf "%8d  %s\n", rss[m], m}' \
            "$proc/smaps" | sort -rn | head -10
    fi
    stop "$client_pid"
    client_pid=""
}

for client in "${clients[@]}"; do
    echo "measuring $client (${idle} s idle)..." >&2
    measure "$client"
done

echo
echo "10 names, 2 dyndns2 accounts, check every 5 minutes, ${idle} s idle after the first updates"
printf '%-40s' ""
for client in "${clients[@]}"; do printf '%12s' "$client"; done
echo
line() { # label key
    printf '%-40s' "$1"
    for client in "${clients[@]}"; do printf '%12s' "${row[$client,$2]}"; done
    echo
}
line "version" version
line "RSS (MiB)" rss
line "PSS (MiB)" pss
line "  PSS anonymous (MiB)" anon
line "  PSS file-backed (MiB)" file
line "peak RSS (MiB)" hwm
line "threads" threads
line "wake-ups while idle (all threads)" wakeups
line "CPU ticks while idle ($(getconf CLK_TCK)/s)" ticks
line "requests for the first update" requests
line "requests while idle" idle_requests
line "program size (MiB)" size
