# fish completion for mlops; candidates come from 'mlops __complete WORDS...'.
function __mlops_complete
    set -l words (commandline -opc)
    set -e words[1]
    command mlops __complete $words (commandline -ct) 2>/dev/null
end
complete -c mlops -f -a '(__mlops_complete)'
