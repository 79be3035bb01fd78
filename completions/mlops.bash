# bash completion for mlops (installed as .../bash-completion/completions/mlops).
# The candidates come from the binary itself ('mlops __complete WORDS...'), so they
# always match the installed version's commands, options and option values; the
# lines ":files" and ":dirs" ask for file or directory names instead.
_mlops() {
  local cur=${COMP_WORDS[COMP_CWORD]} line i w join=0 IFS=$'\n'
  # bash splits --target=kserve at '='; mlops gets the option and value as one word.
  local -a words=()
  for ((i = 1; i <= COMP_CWORD; i++)); do
    w=${COMP_WORDS[i]}
    if [[ $w == "=" && ${#words[@]} -gt 0 && ${words[-1]} == --* ]]; then
      words[-1]+="="; join=1
    elif ((join)); then
      words[-1]+=$w; join=0
    else
      words+=("$w")
    fi
  done
  ((join)) && [[ $cur != "=" ]] && words+=("")
  local eq_prefix=""
  [[ ${words[-1]} == --*=* ]] && eq_prefix=${words[-1]%%=*}=
  # The mlops being completed: the word typed (./build/mlops) or the one on PATH.
  local mlops=${COMP_WORDS[0]}
  [[ $mlops == "~/"* ]] && mlops=$HOME/${mlops#"~/"}
  COMPREPLY=()
  while IFS= read -r line; do
    case $line in
      :files) compopt -o filenames 2>/dev/null; COMPREPLY+=($(compgen -f -- "${cur#=}")) ;;
      :dirs) compopt -o filenames 2>/dev/null; COMPREPLY+=($(compgen -d -- "${cur#=}")) ;;
      *)
        line=${line#"$eq_prefix"}
        [[ $cur == "=" ]] && line="=$line"
        [[ $line == */ ]] && compopt -o nospace 2>/dev/null
        COMPREPLY+=("$line") ;;
    esac
  done < <(command "$mlops" __complete "${words[@]}" 2>/dev/null)
}
complete -F _mlops mlops
