# Shared by the .ci/*-up.sh scripts (sourced, not run).

wait_for() {  # wait_for <seconds> <command...>: until the command succeeds, or fail
    local deadline=$((SECONDS + $1)); shift
    until "$@" >/dev/null 2>&1; do
        (( SECONDS < deadline )) || return 1
        sleep 0.5
    done
}
