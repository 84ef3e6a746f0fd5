# Sent to the client's shell by `labctl up`'s checks: N HTTP requests to each VIP given as
# arguments, one line each: VIP STATUS REAL (REAL from the X-Real-Server header, - if none).
count=$1
shift
for vip in "$@"; do
    i=0
    while [ "$i" -lt "$count" ]; do
        out=$(curl -s -m 3 -o /dev/null -D - "http://$vip/" 2>/dev/null | tr -d '\r')
        code=$(echo "$out" | sed -n '1s/^HTTP\/[0-9.]* \([0-9]*\).*/\1/p')
        real=$(echo "$out" | sed -n 's/^[Xx]-[Rr]eal-[Ss]erver: *//p')
        echo "$vip ${code:-000} ${real:--}"
        i=$((i + 1))
    done
done
