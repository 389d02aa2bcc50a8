# Sourced by the test and measure scripts.
#
# start_fake_provider [ARGS...]: starts fake-provider ($fake_bin, with ARGS) on a free
# loopback port, logging to $work/fake.log. Needs: $work, $fake_bin. Sets: fake_pid,
# server (its http://127.0.0.1:PORT). Fails, with the log on stderr, if it does not start.
#
# write_ten_record_config: a config of 10 records (2 dyndns accounts x 5) against it,
# secrets in 0600 files. Needs also $XDG_CONFIG_HOME.

start_fake_provider() {
    "$fake_bin" --port 0 "$@" >"$work/fake.log" 2>&1 &
    fake_pid=$!
    local port=""
    for _ in $(seq 100); do
        port=$(sed -n 's|^listening on http://127\.0\.0\.1:\([0-9]*\)$|\1|p' "$work/fake.log")
        [ -n "$port" ] && break
        kill -0 "$fake_pid" 2>/dev/null || { cat "$work/fake.log" >&2; return 1; }
        sleep 0.1
    done
    [ -n "$port" ] || { echo "fake-provider did not start" >&2; return 1; }
    server="http://127.0.0.1:$port"
}

write_ten_record_config() {
    local config="$XDG_CONFIG_HOME/dyntray/config.toml" a r secret
    mkdir -p "$work/secrets" "$XDG_CONFIG_HOME/dyntray"
    {
        printf 'version = 1\n\n[general]\npoll_interval = "5m"\n\n'
        printf '[detect]\nipv4 = ["%s/ip"]\nipv6 = []\n\n' "$server"
        for a in 1 2; do
            secret="$work/secrets/acct$a"
            (umask 077 && printf 'pass-%s\n' "$a" >"$secret")
            printf '[[account]]\nid = "acct%s"\nprovider = "dyndns"\nusername = "user%s"\n' "$a" "$a"
            printf 'secret = "file:%s"\nserver = "%s"\n\n' "$secret" "$server"
        done
        for a in 1 2; do
            for r in 1 2 3 4 5; do
                printf '[[record]]\nname = "h%s.acct%s.example.org"\naccount = "acct%s"\n\n' \
                    "$r" "$a" "$a"
            done
        done
    } >"$config"
}
