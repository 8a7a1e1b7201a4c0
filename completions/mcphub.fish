# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_mcphub_global_optspecs
    string join \n h/help V/version
end

function __fish_mcphub_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_mcphub_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_mcphub_using_subcommand
    set -l cmd (__fish_mcphub_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c mcphub -n "__fish_mcphub_needs_command" -s h -l help -d 'Print help'
complete -c mcphub -n "__fish_mcphub_needs_command" -s V -l version -d 'Print version'
complete -c mcphub -n "__fish_mcphub_needs_command" -f -a "serve" -d 'Run the hub: connect every configured MCP server and serve them at /mcp'
complete -c mcphub -n "__fish_mcphub_needs_command" -f -a "monitor" -d 'Live dashboard: hub, process, servers, tool calls, LLM, alerts (q to quit)'
complete -c mcphub -n "__fish_mcphub_needs_command" -f -a "measure" -d 'Measure the hub over a window and write a baseline (markdown + JSON)'
complete -c mcphub -n "__fish_mcphub_needs_command" -f -a "check-alerts" -d 'Evaluate the alert rules now (exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN)'
complete -c mcphub -n "__fish_mcphub_needs_command" -f -a "detect-anomalies" -d 'Look for anomalies in the last window: error spikes, flapping, resources, servers, log growth'
complete -c mcphub -n "__fish_mcphub_needs_command" -f -a "summary" -d 'Write the daily report (availability, restarts, servers, alerts, anomalies, action items)'
complete -c mcphub -n "__fish_mcphub_needs_command" -f -a "validate" -d 'Check a deployment end to end: config, process, port, health, servers, state files'
complete -c mcphub -n "__fish_mcphub_needs_command" -f -a "auth" -d 'Sign a remote server in (OAuth), list remote servers, or forget their tokens'
complete -c mcphub -n "__fish_mcphub_needs_command" -f -a "install-cron" -d 'Install the monitoring schedule as one marked block in your crontab'
complete -c mcphub -n "__fish_mcphub_needs_command" -f -a "prune" -d 'Remove monitoring history and rotated logs past the retention period'
complete -c mcphub -n "__fish_mcphub_needs_command" -f -a "completions" -d 'Print shell completions (bash, zsh, fish, elvish, powershell)'
complete -c mcphub -n "__fish_mcphub_needs_command" -f -a "man" -d 'Print the man page (or write all pages with --dir)'
complete -c mcphub -n "__fish_mcphub_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c mcphub -n "__fish_mcphub_using_subcommand serve" -s c -l config -d 'Servers file (mcpServers JSON/JSON5); repeat to merge, later files win per server. Default: $XDG_CONFIG_HOME/mcphub/servers.json when it exists' -r -F
complete -c mcphub -n "__fish_mcphub_using_subcommand serve" -s p -l port -d 'Port to listen on; 0 picks a free one (printed at start)' -r
complete -c mcphub -n "__fish_mcphub_using_subcommand serve" -l host -d 'Address to listen on. Anything but loopback needs --token' -r
complete -c mcphub -n "__fish_mcphub_using_subcommand serve" -l token -d 'Bearer token required on /mcp, /api and /metrics' -r
complete -c mcphub -n "__fish_mcphub_using_subcommand serve" -l allow-host -d 'Extra Host name the hub answers to (besides localhost, 127.0.0.1, ::1)' -r
complete -c mcphub -n "__fish_mcphub_using_subcommand serve" -l allow-origin -d 'Extra browser Origin allowed (besides loopback origins), e.g. https://app.example.com' -r
complete -c mcphub -n "__fish_mcphub_using_subcommand serve" -l max-body -d 'Largest request body accepted, in bytes' -r
complete -c mcphub -n "__fish_mcphub_using_subcommand serve" -l rate-limit -d 'Requests a second each client address may make (on /mcp and the REST API); past it they get 429 with Retry-After. 0, the default, is no limit' -r
complete -c mcphub -n "__fish_mcphub_using_subcommand serve" -l rate-burst -d 'With --rate-limit: how many requests a client may make at once before the rate applies. Default: one second\'s worth' -r
complete -c mcphub -n "__fish_mcphub_using_subcommand serve" -l max-sessions -d 'Most MCP sessions open at once; past it a new one is answered 503' -r
complete -c mcphub -n "__fish_mcphub_using_subcommand serve" -l session-idle-timeout -d 'How long an MCP session may stay unused before the hub closes it, e.g. 5m' -r
complete -c mcphub -n "__fish_mcphub_using_subcommand serve" -l max-connections -d 'Most HTTP connections open at once; past it a new one is answered 503' -r
complete -c mcphub -n "__fish_mcphub_using_subcommand serve" -l max-connections-per-client -d 'Most HTTP connections open at once from one client address' -r
complete -c mcphub -n "__fish_mcphub_using_subcommand serve" -l header-timeout -d 'How long a connection may take to send a request\'s headers (also how long a keep-alive connection may stay idle), e.g. 10s' -r
complete -c mcphub -n "__fish_mcphub_using_subcommand serve" -l state-dir -d 'State directory (workspaces.json, logs/). Default: $XDG_STATE_HOME/mcp-hub' -r -F
complete -c mcphub -n "__fish_mcphub_using_subcommand serve" -l shutdown-delay -d 'With --auto-shutdown: how long the hub waits for a client to come back, in milliseconds' -r
complete -c mcphub -n "__fish_mcphub_using_subcommand serve" -l startup-timeout -d 'How long an MCP request made while the servers are still starting waits for them before it is answered with those that connected, e.g. 15s, 1m' -r
complete -c mcphub -n "__fish_mcphub_using_subcommand serve" -l marketplace-url -d 'The marketplace registry editors browse (GET /api/marketplace): mcp-hub\'s, or a mirror of it' -r
complete -c mcphub -n "__fish_mcphub_using_subcommand serve" -l allow-insecure-bind -d 'Listen on a non-loopback address without a token (a trusted network only)'
complete -c mcphub -n "__fish_mcphub_using_subcommand serve" -s w -l watch -d 'Reload the config files when they change; only changed servers restart'
complete -c mcphub -n "__fish_mcphub_using_subcommand serve" -l auto-shutdown -d 'Stop once the last client of /api/events has left (mcp-hub\'s, for editors that start the hub and leave it to stop), after --shutdown-delay'
complete -c mcphub -n "__fish_mcphub_using_subcommand serve" -l stdio -d 'Serve one MCP session over stdin/stdout (for clients that spawn their servers)'
complete -c mcphub -n "__fish_mcphub_using_subcommand serve" -s h -l help -d 'Print help'
complete -c mcphub -n "__fish_mcphub_using_subcommand serve" -s V -l version -d 'Print version'
complete -c mcphub -n "__fish_mcphub_using_subcommand monitor" -l hub -d 'Hub to check. Default: MCPHUB_URL, else the live hubs in workspaces.json, else http://127.0.0.1:7000' -r
complete -c mcphub -n "__fish_mcphub_using_subcommand monitor" -l token -d 'Bearer token of the hub' -r
complete -c mcphub -n "__fish_mcphub_using_subcommand monitor" -l state-dir -d 'State directory. Default: $XDG_STATE_HOME/mcp-hub' -r -F
complete -c mcphub -n "__fish_mcphub_using_subcommand monitor" -l interval -d 'Refresh period' -r
complete -c mcphub -n "__fish_mcphub_using_subcommand monitor" -l once -d 'Print one frame and exit'
complete -c mcphub -n "__fish_mcphub_using_subcommand monitor" -s h -l help -d 'Print help'
complete -c mcphub -n "__fish_mcphub_using_subcommand monitor" -s V -l version -d 'Print version'
complete -c mcphub -n "__fish_mcphub_using_subcommand measure" -l hub -d 'Hub to check. Default: MCPHUB_URL, else the live hubs in workspaces.json, else http://127.0.0.1:7000' -r
complete -c mcphub -n "__fish_mcphub_using_subcommand measure" -l token -d 'Bearer token of the hub' -r
complete -c mcphub -n "__fish_mcphub_using_subcommand measure" -l state-dir -d 'State directory. Default: $XDG_STATE_HOME/mcp-hub' -r -F
complete -c mcphub -n "__fish_mcphub_using_subcommand measure" -l duration -d 'How long to measure, e.g. 60s, 5m' -r
complete -c mcphub -n "__fish_mcphub_using_subcommand measure" -l interval -d 'How often to sample CPU, RSS and queue depth' -r
complete -c mcphub -n "__fish_mcphub_using_subcommand measure" -l format -r -f -a "table\t''
json\t''"
complete -c mcphub -n "__fish_mcphub_using_subcommand measure" -l template -d 'Baseline template overriding templates/baseline.md' -r -F
complete -c mcphub -n "__fish_mcphub_using_subcommand measure" -s h -l help -d 'Print help'
complete -c mcphub -n "__fish_mcphub_using_subcommand measure" -s V -l version -d 'Print version'
complete -c mcphub -n "__fish_mcphub_using_subcommand check-alerts" -l hub -d 'Hub to check. Default: MCPHUB_URL, else the live hubs in workspaces.json, else http://127.0.0.1:7000' -r
complete -c mcphub -n "__fish_mcphub_using_subcommand check-alerts" -l token -d 'Bearer token of the hub' -r
complete -c mcphub -n "__fish_mcphub_using_subcommand check-alerts" -l state-dir -d 'State directory. Default: $XDG_STATE_HOME/mcp-hub' -r -F
complete -c mcphub -n "__fish_mcphub_using_subcommand check-alerts" -l format -r -f -a "table\t''
json\t''
nagios\t'One Nagios plugin line: `MCPHUB <STATUS> - <summary> | <perfdata>`'"
complete -c mcphub -n "__fish_mcphub_using_subcommand check-alerts" -l thresholds -d 'JSON file overriding alert thresholds (see README)' -r -F
complete -c mcphub -n "__fish_mcphub_using_subcommand check-alerts" -l emit -d 'Print the same rules in another system\'s format instead of checking' -r -f -a "prometheus-rules\t''"
complete -c mcphub -n "__fish_mcphub_using_subcommand check-alerts" -l webhook -d 'Slack-compatible webhook (a JSON POST of {"text": …}) told about warning and critical results' -r
complete -c mcphub -n "__fish_mcphub_using_subcommand check-alerts" -l job -d 'Prometheus job name the emitted rules select' -r
complete -c mcphub -n "__fish_mcphub_using_subcommand check-alerts" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c mcphub -n "__fish_mcphub_using_subcommand check-alerts" -s V -l version -d 'Print version'
complete -c mcphub -n "__fish_mcphub_using_subcommand detect-anomalies" -l hub -d 'Hub to check. Default: MCPHUB_URL, else the live hubs in workspaces.json, else http://127.0.0.1:7000' -r
complete -c mcphub -n "__fish_mcphub_using_subcommand detect-anomalies" -l token -d 'Bearer token of the hub' -r
complete -c mcphub -n "__fish_mcphub_using_subcommand detect-anomalies" -l state-dir -d 'State directory. Default: $XDG_STATE_HOME/mcp-hub' -r -F
complete -c mcphub -n "__fish_mcphub_using_subcommand detect-anomalies" -l window -d 'How far back to look, e.g. 5m, 1h' -r
complete -c mcphub -n "__fish_mcphub_using_subcommand detect-anomalies" -l format -r -f -a "table\t''
json\t''
nagios\t'One Nagios plugin line: `MCPHUB <STATUS> - <summary> | <perfdata>`'"
complete -c mcphub -n "__fish_mcphub_using_subcommand detect-anomalies" -l thresholds -d 'JSON file overriding anomaly thresholds' -r -F
complete -c mcphub -n "__fish_mcphub_using_subcommand detect-anomalies" -l log -d 'The hub\'s log file. Default: logs/mcp-hub.log in the state directory' -r -F
complete -c mcphub -n "__fish_mcphub_using_subcommand detect-anomalies" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c mcphub -n "__fish_mcphub_using_subcommand detect-anomalies" -s V -l version -d 'Print version'
complete -c mcphub -n "__fish_mcphub_using_subcommand summary" -l hub -d 'Hub to check. Default: MCPHUB_URL, else the live hubs in workspaces.json, else http://127.0.0.1:7000' -r
complete -c mcphub -n "__fish_mcphub_using_subcommand summary" -l token -d 'Bearer token of the hub' -r
complete -c mcphub -n "__fish_mcphub_using_subcommand summary" -l state-dir -d 'State directory. Default: $XDG_STATE_HOME/mcp-hub' -r -F
complete -c mcphub -n "__fish_mcphub_using_subcommand summary" -l date -d 'The day to report on: YYYY-MM-DD, today or yesterday (UTC)' -r
complete -c mcphub -n "__fish_mcphub_using_subcommand summary" -l format -r -f -a "table\t''
json\t''"
complete -c mcphub -n "__fish_mcphub_using_subcommand summary" -l template -d 'Report template overriding templates/summary.md' -r -F
complete -c mcphub -n "__fish_mcphub_using_subcommand summary" -l log -d 'The hub\'s log file. Default: logs/mcp-hub.log in the state directory' -r -F
complete -c mcphub -n "__fish_mcphub_using_subcommand summary" -s h -l help -d 'Print help'
complete -c mcphub -n "__fish_mcphub_using_subcommand summary" -s V -l version -d 'Print version'
complete -c mcphub -n "__fish_mcphub_using_subcommand validate" -l hub -d 'Hub to check. Default: MCPHUB_URL, else the live hubs in workspaces.json, else http://127.0.0.1:7000' -r
complete -c mcphub -n "__fish_mcphub_using_subcommand validate" -l token -d 'Bearer token of the hub' -r
complete -c mcphub -n "__fish_mcphub_using_subcommand validate" -l state-dir -d 'State directory. Default: $XDG_STATE_HOME/mcp-hub' -r -F
complete -c mcphub -n "__fish_mcphub_using_subcommand validate" -s c -l config -d 'Config files to validate. Default: the running hub\'s, else the default file' -r -F
complete -c mcphub -n "__fish_mcphub_using_subcommand validate" -l format -r -f -a "table\t''
json\t''
nagios\t'One Nagios plugin line: `MCPHUB <STATUS> - <summary> | <perfdata>`'"
complete -c mcphub -n "__fish_mcphub_using_subcommand validate" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c mcphub -n "__fish_mcphub_using_subcommand validate" -s V -l version -d 'Print version'
complete -c mcphub -n "__fish_mcphub_using_subcommand auth" -l hub -d 'Hub to check. Default: MCPHUB_URL, else the live hubs in workspaces.json, else http://127.0.0.1:7000' -r
complete -c mcphub -n "__fish_mcphub_using_subcommand auth" -l token -d 'Bearer token of the hub' -r
complete -c mcphub -n "__fish_mcphub_using_subcommand auth" -l state-dir -d 'State directory. Default: $XDG_STATE_HOME/mcp-hub' -r -F
complete -c mcphub -n "__fish_mcphub_using_subcommand auth" -l logout -d 'Forget a server\'s tokens (it asks for a new sign-in)' -r
complete -c mcphub -n "__fish_mcphub_using_subcommand auth" -l wait -d 'How long to wait for the sign-in, e.g. 5m' -r
complete -c mcphub -n "__fish_mcphub_using_subcommand auth" -l list -d 'List the hub\'s remote servers: status, whether tokens are kept, the address of a pending sign-in'
complete -c mcphub -n "__fish_mcphub_using_subcommand auth" -l no-browser -d 'Do not open a browser; only print the address'
complete -c mcphub -n "__fish_mcphub_using_subcommand auth" -s h -l help -d 'Print help'
complete -c mcphub -n "__fish_mcphub_using_subcommand auth" -s V -l version -d 'Print version'
complete -c mcphub -n "__fish_mcphub_using_subcommand install-cron" -l hub -d 'Hub to check. Default: MCPHUB_URL, else the live hubs in workspaces.json, else http://127.0.0.1:7000' -r
complete -c mcphub -n "__fish_mcphub_using_subcommand install-cron" -l token -d 'Bearer token of the hub' -r
complete -c mcphub -n "__fish_mcphub_using_subcommand install-cron" -l state-dir -d 'State directory. Default: $XDG_STATE_HOME/mcp-hub' -r -F
complete -c mcphub -n "__fish_mcphub_using_subcommand install-cron" -l dry-run -d 'Show what would change (a diff of the crontab) and change nothing'
complete -c mcphub -n "__fish_mcphub_using_subcommand install-cron" -s y -l yes -d 'Do not ask for confirmation'
complete -c mcphub -n "__fish_mcphub_using_subcommand install-cron" -l uninstall -d 'Remove the mcphub block instead of installing it'
complete -c mcphub -n "__fish_mcphub_using_subcommand install-cron" -s h -l help -d 'Print help'
complete -c mcphub -n "__fish_mcphub_using_subcommand install-cron" -s V -l version -d 'Print version'
complete -c mcphub -n "__fish_mcphub_using_subcommand prune" -l hub -d 'Hub to check. Default: MCPHUB_URL, else the live hubs in workspaces.json, else http://127.0.0.1:7000' -r
complete -c mcphub -n "__fish_mcphub_using_subcommand prune" -l token -d 'Bearer token of the hub' -r
complete -c mcphub -n "__fish_mcphub_using_subcommand prune" -l state-dir -d 'State directory. Default: $XDG_STATE_HOME/mcp-hub' -r -F
complete -c mcphub -n "__fish_mcphub_using_subcommand prune" -l keep -d 'Keep history and rotated logs newer than this, e.g. 30d, 12h' -r
complete -c mcphub -n "__fish_mcphub_using_subcommand prune" -l format -r -f -a "table\t''
json\t''"
complete -c mcphub -n "__fish_mcphub_using_subcommand prune" -s h -l help -d 'Print help'
complete -c mcphub -n "__fish_mcphub_using_subcommand prune" -s V -l version -d 'Print version'
complete -c mcphub -n "__fish_mcphub_using_subcommand completions" -s h -l help -d 'Print help'
complete -c mcphub -n "__fish_mcphub_using_subcommand completions" -s V -l version -d 'Print version'
complete -c mcphub -n "__fish_mcphub_using_subcommand man" -l dir -d 'Write every page (mcphub.1 and one per subcommand) into this directory instead of printing mcphub.1' -r -F
complete -c mcphub -n "__fish_mcphub_using_subcommand man" -s h -l help -d 'Print help'
complete -c mcphub -n "__fish_mcphub_using_subcommand man" -s V -l version -d 'Print version'
complete -c mcphub -n "__fish_mcphub_using_subcommand help; and not __fish_seen_subcommand_from serve monitor measure check-alerts detect-anomalies summary validate auth install-cron prune completions man help" -f -a "serve" -d 'Run the hub: connect every configured MCP server and serve them at /mcp'
complete -c mcphub -n "__fish_mcphub_using_subcommand help; and not __fish_seen_subcommand_from serve monitor measure check-alerts detect-anomalies summary validate auth install-cron prune completions man help" -f -a "monitor" -d 'Live dashboard: hub, process, servers, tool calls, LLM, alerts (q to quit)'
complete -c mcphub -n "__fish_mcphub_using_subcommand help; and not __fish_seen_subcommand_from serve monitor measure check-alerts detect-anomalies summary validate auth install-cron prune completions man help" -f -a "measure" -d 'Measure the hub over a window and write a baseline (markdown + JSON)'
complete -c mcphub -n "__fish_mcphub_using_subcommand help; and not __fish_seen_subcommand_from serve monitor measure check-alerts detect-anomalies summary validate auth install-cron prune completions man help" -f -a "check-alerts" -d 'Evaluate the alert rules now (exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN)'
complete -c mcphub -n "__fish_mcphub_using_subcommand help; and not __fish_seen_subcommand_from serve monitor measure check-alerts detect-anomalies summary validate auth install-cron prune completions man help" -f -a "detect-anomalies" -d 'Look for anomalies in the last window: error spikes, flapping, resources, servers, log growth'
complete -c mcphub -n "__fish_mcphub_using_subcommand help; and not __fish_seen_subcommand_from serve monitor measure check-alerts detect-anomalies summary validate auth install-cron prune completions man help" -f -a "summary" -d 'Write the daily report (availability, restarts, servers, alerts, anomalies, action items)'
complete -c mcphub -n "__fish_mcphub_using_subcommand help; and not __fish_seen_subcommand_from serve monitor measure check-alerts detect-anomalies summary validate auth install-cron prune completions man help" -f -a "validate" -d 'Check a deployment end to end: config, process, port, health, servers, state files'
complete -c mcphub -n "__fish_mcphub_using_subcommand help; and not __fish_seen_subcommand_from serve monitor measure check-alerts detect-anomalies summary validate auth install-cron prune completions man help" -f -a "auth" -d 'Sign a remote server in (OAuth), list remote servers, or forget their tokens'
complete -c mcphub -n "__fish_mcphub_using_subcommand help; and not __fish_seen_subcommand_from serve monitor measure check-alerts detect-anomalies summary validate auth install-cron prune completions man help" -f -a "install-cron" -d 'Install the monitoring schedule as one marked block in your crontab'
complete -c mcphub -n "__fish_mcphub_using_subcommand help; and not __fish_seen_subcommand_from serve monitor measure check-alerts detect-anomalies summary validate auth install-cron prune completions man help" -f -a "prune" -d 'Remove monitoring history and rotated logs past the retention period'
complete -c mcphub -n "__fish_mcphub_using_subcommand help; and not __fish_seen_subcommand_from serve monitor measure check-alerts detect-anomalies summary validate auth install-cron prune completions man help" -f -a "completions" -d 'Print shell completions (bash, zsh, fish, elvish, powershell)'
complete -c mcphub -n "__fish_mcphub_using_subcommand help; and not __fish_seen_subcommand_from serve monitor measure check-alerts detect-anomalies summary validate auth install-cron prune completions man help" -f -a "man" -d 'Print the man page (or write all pages with --dir)'
complete -c mcphub -n "__fish_mcphub_using_subcommand help; and not __fish_seen_subcommand_from serve monitor measure check-alerts detect-anomalies summary validate auth install-cron prune completions man help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
