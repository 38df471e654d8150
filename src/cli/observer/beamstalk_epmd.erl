%% An EPMD module (kernel's `epmd_module`) for a connect-only hidden node that
%% reaches one remote node through two SSH port forwards on 127.0.0.1. Written
%% by `beamstalk ps:observer` into a temporary directory and compiled there.
%%
%% A replica's node is `<app>@<its IP>`: an IP literal that no hosts file can
%% send to 127.0.0.1. So: the target node (-beamstalk_node) is looked up in the
%% replica's own EPMD through the forwarded EPMD port (-beamstalk_epmd_port); the
%% port it registered must be the pinned distribution port
%% (-beamstalk_remote_dist_port), which is forwarded from -beamstalk_dist_port.
%% Every other node name is unknown here, so this node connects nowhere else.
-module(beamstalk_epmd).
-export([start_link/0, register_node/2, register_node/3, port_please/2, port_please/3,
         address_please/3, names/0, names/1, lookup/0]).

start_link() -> ignore.

%% Never called with -dist_listen false; a creation for anything that asks.
register_node(_Name, _Port) -> {ok, rand:uniform(16#7fffffff) + 3}.
register_node(Name, Port, _Family) -> register_node(Name, Port).

address_please(Name, Host, _Family) ->
    case is_target(Name, Host) of
        true ->
            case lookup() of
                {ok, Version} -> {ok, {127, 0, 0, 1}, arg_int(beamstalk_dist_port), Version};
                {error, _} = Error -> Error
            end;
        false -> {error, nxdomain}
    end.

port_please(Name, Host) -> port_please(Name, Host, infinity).
port_please(Name, _Ip, _Timeout) ->
    case {target(), lookup()} of
        {{Name, _}, {ok, Version}} -> {port, arg_int(beamstalk_dist_port), Version};
        _ -> noport
    end.

names() -> {error, address}.
names(_Host) -> {error, address}.

%% {ok, Version} when the target's node is registered in the replica's EPMD at the
%% pinned port; {error, Reason} says what is wrong.
lookup() ->
    {Name, _Host} = target(),
    case epmd_port2(Name, arg_int(beamstalk_epmd_port)) of
        {port, Port, Version} ->
            case arg_int(beamstalk_remote_dist_port) of
                Port -> {ok, Version};
                Pinned -> {error, {dist_port, Port, Pinned}}
            end;
        Other -> Other
    end.

is_target(Name, Host) -> {Name, Host} =:= target().

target() ->
    {ok, [[Node | _] | _]} = init:get_argument(beamstalk_node),
    [Name, Host] = string:split(Node, "@"),
    {Name, Host}.

arg_int(Key) ->
    {ok, [[Value | _] | _]} = init:get_argument(Key),
    list_to_integer(Value).

%% EPMD's PORT2_REQ (122) and its PORT2_RESP (119), over the forwarded EPMD port.
epmd_port2(Name, EpmdPort) ->
    case gen_tcp:connect({127, 0, 0, 1}, EpmdPort, [binary, {active, false}, {packet, 0}], 10000) of
        {ok, Socket} ->
            Request = <<122, (unicode:characters_to_binary(Name))/binary>>,
            ok = gen_tcp:send(Socket, <<(byte_size(Request)):16, Request/binary>>),
            Reply = recv_all(Socket, <<>>),
            gen_tcp:close(Socket),
            case Reply of
                <<119, 0, Port:16, _Type, _Proto, High:16, _Low:16, _/binary>> -> {port, Port, High};
                <<119, _/binary>> -> {error, not_registered};
                _ -> {error, {epmd, Reply}}
            end;
        {error, Reason} -> {error, {epmd_unreachable, Reason}}
    end.

recv_all(Socket, Acc) ->
    case gen_tcp:recv(Socket, 0, 10000) of
        {ok, Data} -> recv_all(Socket, <<Acc/binary, Data/binary>>);
        {error, _} -> Acc
    end.
