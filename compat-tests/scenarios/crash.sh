# Crash recovery: kill -9 the daemon at a random moment of a random
# workload (add, import, build, GC), restart it over its stale mount and
# socket, and check: `nix-store --verify --check-contents` is clean, every
# reference of a valid path is valid, every path valid before the crash
# (every live one, when the workload was a GC) is still valid with the
# same NAR hash, and every path a client was told about before the crash
# is valid. Usage: sh crash.sh ITERATIONS. Prints one line per iteration.
set -u
n=${1:?iterations}
daemon_pid=$(cat /nix/compat/daemon.pid)
bin=$(readlink /proc/$daemon_pid/exe)
log=/nix/compat/daemon.log
fail() { echo "FAIL: $*" >&2; tail -n 30 $log >&2; exit 1; }
rnd() { od -An -N2 -tu2 /dev/urandom | tr -d ' \n'; }

start_daemon() {
  env -i PATH="$PATH" NIX_CONF_DIR=/nix/compat/conf HOME=/nix/compat/home \
    TMPDIR=/nix/compat/tmp LC_ALL=C \
    "$bin" --state-dir /nix/var/pkgchain --socket /nix/var/nix/daemon-socket/socket \
      --store-dir /nix/store >> $log 2>&1 &
  daemon_pid=$!
  t=0
  until nix-store -q --hash /nix/store/00000000000000000000000000000000-none 2>&1 | grep -q 'is not valid'; do
    kill -0 $daemon_pid 2>/dev/null || fail "the daemon did not come back up"
    t=$((t+1)); [ $t -lt 300 ] || fail "the daemon did not answer within 30 s"
    sleep 0.1
  done
}

# Every valid path with its NAR hash, sorted.
valid() { nix path-info --all --json | jq -r '.[] | "\(.path) \(.narHash)"' | sort; }

for i in $(seq 1 $n); do
  kind=$(( $(rnd) % 4 ))
  # Garbage for the collector and an export to import.
  mkdir -p junk-$i; echo "junk $i $(rnd)" > junk-$i/f
  nix-store --add junk-$i > /dev/null || fail "add junk"
  mkdir -p exp-$i/d; echo "exported $i $(rnd)" > exp-$i/d/f; head -c 1500000 /dev/urandom > exp-$i/blob
  e=$(nix-store --add exp-$i) || fail "add exp"
  nix-store --export $e > exp-$i.nar || fail "export"
  nix-store --delete $e > /dev/null 2>&1 || fail "delete $e"
  valid > before-$i
  nix-store --gc --print-live 2>/dev/null | sort > live-$i
  : > told-$i
  case $kind in
    0) what=add
       ( for k in 1 2 3 4; do
           mkdir -p add-$i-$k/sub; echo "$i $k $(rnd)" > add-$i-$k/sub/f
           head -c $(( 500000 * k )) /dev/urandom > add-$i-$k/blob
           nix-store --add add-$i-$k >> told-$i || exit 1
         done ) > wl-$i.log 2>&1 & ;;
    1) what=import
       ( nix-store --import < exp-$i.nar >> told-$i ) > wl-$i.log 2>&1 & ;;
    2) what=build
       ( nix-build crash.nix --argstr id $i -o r-$i >> told-$i ) > wl-$i.log 2>&1 & ;;
    3) what=gc
       ( nix-store --gc ) > wl-$i.log 2>&1 & ;;
  esac
  client=$!
  # In hundredths of a second; imports and collections are over sooner.
  case $what in import|gc) span=40 ;; *) span=150 ;; esac
  delay=$(( $(rnd) % span ))
  delay=$(( delay / 100 )).$(printf %02d $(( delay % 100 )))
  sleep $delay
  kill -9 $daemon_pid; wait $daemon_pid 2>/dev/null
  wait $client; client_rc=$?
  start_daemon
  out=$(nix-store --verify --check-contents 2>&1) || fail "iteration $i ($what): verify failed: $out"
  echo "$out" | grep -q -e 'error' -e 'modified' -e 'disappeared' && fail "iteration $i ($what): verify: $out"
  valid > after-$i
  all=$(cut -d' ' -f1 after-$i)
  [ -z "$all" ] || nix-store -q --requisites $all > /dev/null || fail "iteration $i: a reference is not valid"
  if [ $what = gc ]; then
    grep -F -f live-$i before-$i > must-$i || true
  else
    cp before-$i must-$i
  fi
  missing=$(comm -23 must-$i after-$i)
  [ -z "$missing" ] || fail "iteration $i ($what): lost or changed: $missing"
  for p in $(cat told-$i); do
    grep -q "^$p " after-$i || fail "iteration $i ($what): $p was reported to the client but is not valid"
  done
  echo "iteration $i: $what killed after $delay s (client exit $client_rc), valid $(wc -l < before-$i) -> $(wc -l < after-$i), told $(wc -l < told-$i)"
done
nix-store --gc > /dev/null 2>&1 || fail "final gc"
nix-store --verify --check-contents || fail "final verify"
echo "iterations=$n ok"
