# Sent to the client's shell by `labctl up`'s checks: N HTTP requests to each VIP given as
# arguments, one line each: VIP STATUS REAL (REAL from the X-Real-Server header, empty if none).
# One curl per request (a new connection each, as in the homework's loop) and nothing else.
count=$1
shift
for vip in "$@"; do
    i=0
    while [ "$i" -lt "$count" ]; do
        curl -s -m 3 -o /dev/null -w "$vip %{http_code} %header{x-real-server}\n" "http://$vip/" || true
        i=$((i + 1))
    done
done
