%% What `beamstalk ps:observer` runs in its local hidden node (see beamstalk_epmd):
%% connect to the replica's node, then either print its system summary (info/0,
%% `key<TAB>value` lines for the CLI to render) or open Observer on it (gui/0).
-module(beamstalk_observer).
-export([info/0, gui/0]).

info() ->
    Node = connect(),
    case rpc:call(Node, observer_backend, sys_info, [], 30000) of
        {badrpc, Reason} -> fail("the node did not answer observer_backend:sys_info/0: ~0p~n", [Reason]);
        Info ->
            Memory = proplists:get_value(memory, Info, []) ++ Info,
            Keys = [otp_release, version, system_architecture, uptime, process_count, process_limit,
                    port_count, atom_count, ets_count, logical_processors_online, schedulers_online,
                    total, processes, atom, binary, code, ets],
            out("node", Node),
            [out(K, V) || K <- Keys, {Key, V} <- [lists:keyfind(K, 1, Memory)], Key =:= K],
            out("applications", [A || {A, _, _} <- rpc:call(Node, application, which_applications, [], 30000)]),
            halt(0)
    end.

gui() ->
    Node = connect(),
    {module, observer} = code:ensure_loaded(observer),
    %% observer:start/1 (OTP 26 and later) opens on the given node.
    OnNode = erlang:function_exported(observer, start, 1),
    Started = case OnNode of
                  true -> observer:start(Node);
                  false -> observer:start()
              end,
    Started =:= ok orelse fail("Observer did not start: ~0tp~n", [Started]),
    OnNode orelse io:format(standard_error, "beamstalk: this Erlang's Observer (OTP 25 and older) opens on the local node: "
                            "choose Nodes > Connect Node and enter ~s~n", [Node]),
    case whereis(observer) of
        undefined -> fail("Observer stopped at once~n", []);
        Pid ->
            Ref = erlang:monitor(process, Pid),
            receive {'DOWN', Ref, _, _, _} -> halt(0) end
    end.

connect() ->
    {ok, [[Name | _] | _]} = init:get_argument(beamstalk_node),
    Node = list_to_atom(Name),
    case beamstalk_epmd:lookup() of
        {ok, _} -> ok;
        {error, {dist_port, Port, Pinned}} ->
            fail("~s listens for distribution on port ~b, not on ~b where Beamstalk pins it "
                 "(does the release set inet_dist_listen_min?)~n", [Node, Port, Pinned]);
        {error, not_registered} -> fail("~s is not registered in its replica's EPMD (is the node running?)~n", [Node]);
        {error, Reason} -> fail("could not reach the replica's EPMD through the tunnel: ~0p~n", [Reason])
    end,
    case net_kernel:connect_node(Node) of
        true -> ok;
        _ -> fail("could not connect to ~s through the tunnel (wrong cookie, or the node went away)~n", [Node])
    end,
    case rpc:call(Node, code, which, [observer_backend], 30000) of
        non_existing ->
            io:format(standard_error, "beamstalk: warning: ~s has no observer_backend: add :runtime_tools "
                      "to extra_applications in mix.exs so Observer can read it~n", [Node]);
        _ -> ok
    end,
    Node.

%% One `key<TAB>value` line: integers, strings and atoms plain, lists of atoms
%% comma-separated, any other term as Erlang prints it.
out(Key, Value) when is_integer(Value) -> io:format("~s\t~b~n", [Key, Value]);
out(Key, Value) when is_atom(Value) -> io:format("~s\t~ts~n", [Key, Value]);
out(Key, Value) when is_list(Value) ->
    case io_lib:printable_unicode_list(Value) of
        true -> io:format("~s\t~ts~n", [Key, Value]);
        false when Value =/= [] ->
            case lists:all(fun is_atom/1, Value) of
                true -> io:format("~s\t~ts~n", [Key, lists:join(",", [atom_to_list(A) || A <- Value])]);
                false -> io:format("~s\t~0tp~n", [Key, Value])
            end;
        false -> io:format("~s\t~n", [Key])
    end;
out(Key, Value) -> io:format("~s\t~0tp~n", [Key, Value]).

fail(Format, Args) ->
    io:format(standard_error, "beamstalk: " ++ Format, Args),
    halt(3).
