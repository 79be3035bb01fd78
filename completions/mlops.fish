# fish completion for mlops; the candidates come from the binary itself
# ('mlops __complete WORDS...'): commands, options and option values. The lines
# ":files" and ":dirs" ask for file or directory names instead.
function __mlops_complete
    set -l tokens (commandline -opc)
    set -l mlops $tokens[1]
    set -e tokens[1]
    set -l cur (commandline -ct)
    for line in (command $mlops __complete $tokens $cur 2>/dev/null)
        switch $line
            case :files
                __fish_complete_path $cur
            case :dirs
                __fish_complete_directories $cur ''
            case '*'
                echo $line
        end
    end
end
complete -c mlops -f -a '(__mlops_complete)'
