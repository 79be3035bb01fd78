# bash completion for mlops.
# The candidates come from the binary itself ('mlops __complete WORDS...'), so they
# always match the installed version's commands and options.
_mlops() {
  local IFS=$'\n'
  local words=("${COMP_WORDS[@]:1:COMP_CWORD}")
  COMPREPLY=($(command mlops __complete "${words[@]}" 2>/dev/null))
  # Nothing from mlops (e.g. a value such as a directory): complete file names.
  if [[ ${#COMPREPLY[@]} -eq 0 ]]; then
    COMPREPLY=($(compgen -f -- "${COMP_WORDS[COMP_CWORD]}"))
  fi
}
complete -F _mlops mlops
