# The layers (docs/architecture.md): an #include may point sideways or down, never up.
#   front ends   src/cli  src/server  (src/server includes nothing from src/cli, nor the reverse)
#   run layer    src/runspec  src/result  src/report  (no front end); src/script below runspec
#   core         src/engine  src/stats  src/proto  src/target  include/mortar  (nothing above)
#   util         src/util (header-only helpers: nothing of mortar above it)
#   src/cli/main.c, the entry point, stands above both front ends.
# Fails naming the file, the line and the include that points up.
set -euo pipefail
ROOT=${MT_SOURCE_DIR:?}
cd "$ROOT"

# dir: the top-level folders under src/ (and include/mortar) it must not include from
declare -A forbidden=(
  [src/engine]="cli server runspec result report target job script"
  [src/stats]="cli server runspec result report target job script"
  [src/proto]="cli server runspec result report target job script"
  [src/target]="cli server runspec result report job script"
  [include/mortar]="cli server runspec result report target job script"
  [src/runspec]="cli server target"
  [src/script]="cli server runspec result report target job"
  [src/result]="cli server target runspec report"
  [src/report]="cli server target runspec"
  [src/util]="cli server runspec result report target job engine stats proto script"
  [src/job]="cli server target"
  [src/server]="cli"
  [src/cli]="server"
)
bad=0
checked=0
for dir in "${!forbidden[@]}"; do
  [[ -d $dir ]] || continue
  while IFS= read -r f; do
    checked=$((checked + 1))
    # the binary's entry point dispatches to every front end: the one file above them all
    [[ $f == src/cli/main.c ]] && continue
    for up in ${forbidden[$dir]}; do
      while IFS=: read -r line text; do
        echo "layering: $f:$line: '$text' points up from $dir to src/$up" >&2
        bad=$((bad + 1))
      done < <(grep -n -E "^[[:space:]]*#[[:space:]]*include[[:space:]]*\"$up/" "$f" || true)
    done
  done < <(find "$dir" -name '*.[ch]' | sort)
done
((checked > 50)) || { echo "layering: only $checked files checked: wrong root?" >&2; exit 1; }
((bad == 0)) || { echo "layering: $bad include(s) point up a layer" >&2; exit 1; }
echo "layering: $checked files, every include points sideways or down"
