#!/usr/bin/env escript
%% -*- erlang -*-
%%! -noshell
%%
%% relup.escript OLD_ROOT NEW_ROOT NAME OLD_VSN NEW_VSN
%%
%% Runs in the build container (driver.sh's hot_upgrade) once both releases sit side by side:
%% the running one (unpacked from the current slug) at OLD_ROOT, the new build
%% at NEW_ROOT. For every application whose version changed it writes an appup
%% into NEW_ROOT/lib/APP-VSN/ebin unless the app brings its own (ebin/APP.appup,
%% or priv/APP.appup copied there), then makes NEW_ROOT/releases/NEW_VSN/relup
%% with systools:make_relup/4 (up and down). It prints one line per decision and
%% ends with `changed APP-VSN ...` naming the lib directories the upgrade
%% package must carry. Any refusal prints `error: REASON` and exits 1.
main([OldRoot, NewRoot, Name, OldVsn, NewVsn]) ->
    try
        run(OldRoot, NewRoot, Name, OldVsn, NewVsn)
    catch
        throw:{refuse, Why} ->
            io:format("error: ~ts~n", [Why]),
            halt(1)
    end;
main(_) ->
    io:format("error: usage: relup.escript OLD_ROOT NEW_ROOT NAME OLD_VSN NEW_VSN~n"),
    halt(2).

run(OldRoot, NewRoot, Name, OldVsn, NewVsn) ->
    OldRelBase = filename:join([OldRoot, "releases", OldVsn, Name]),
    NewRelBase = filename:join([NewRoot, "releases", NewVsn, Name]),
    OldApps = rel_apps(OldRelBase ++ ".rel", "running"),
    NewApps = rel_apps(NewRelBase ++ ".rel", "new"),
    [refuse("the running release ~s ~s does not include :sasl, so :release_handler cannot run in it; "
            "add :sasl to extra_applications in mix.exs and deploy once without a hot upgrade", [Name, OldVsn])
     || not maps:is_key(sasl, OldApps)],
    [refuse("the new release does not include :sasl; keep it in extra_applications in mix.exs", [])
     || not maps:is_key(sasl, NewApps)],
    Changed = lists:sort([{App, maps:get(App, OldApps), V} || {App, V} <- maps:to_list(NewApps),
                                                             maps:is_key(App, OldApps),
                                                             maps:get(App, OldApps) =/= V]),
    Added = lists:sort([{App, V} || {App, V} <- maps:to_list(NewApps), not maps:is_key(App, OldApps)]),
    [same_code_or_refuse(OldRoot, NewRoot, App, V) || {App, V} <- maps:to_list(NewApps),
                                                      maps:get(App, OldApps, none) =:= V],
    [io:format("added application ~s ~s~n", [A, V]) || {A, V} <- Added],
    [io:format("removed application ~s ~s~n", [A, V]) || {A, V} <- maps:to_list(OldApps), not maps:is_key(A, NewApps)],
    lists:foreach(fun({App, OV, NV}) -> appup(OldRoot, NewRoot, App, OV, NV) end, Changed),
    Path = ebin_dirs(NewRoot) ++ ebin_dirs(OldRoot),
    Outdir = filename:join([NewRoot, "releases", NewVsn]),
    Options = [{path, Path}, {outdir, Outdir}, silent, no_warn_sasl],
    case systools:make_relup(NewRelBase, [OldRelBase], [OldRelBase], Options) of
        {ok, _Relup, _Mod, Warnings} ->
            [io:format("warning: ~ts~n", [flat(M:format_warning(W))]) || {M, W} <- lists:flatten([Warnings])],
            ok;
        {error, Mod, Error} ->
            refuse("systools:make_relup failed: ~ts", [flat(Mod:format_error(Error))])
    end,
    Carried = [lib_dir(A, V) || {A, _, V} <- Changed] ++ [lib_dir(A, V) || {A, V} <- Added],
    io:format("changed ~ts~n", [lists:join(" ", Carried)]),
    halt(0).

%% The .rel file's applications as #{App => Vsn}.
rel_apps(File, Which) ->
    case file:consult(File) of
        {ok, [{release, _, _, Apps}]} ->
            maps:from_list([{element(1, A), element(2, A)} || A <- Apps]);
        {ok, _} ->
            refuse("the ~s release file ~ts is not a release", [Which, File]);
        {error, Reason} ->
            refuse("cannot read the ~s release file ~ts: ~ts", [Which, File, file:format_error(Reason)])
    end.

%% An application kept at the same version must carry the same code: the
%% upgrade would otherwise keep the running node's old copy without a word.
same_code_or_refuse(OldRoot, NewRoot, App, Vsn) ->
    case beams(OldRoot, App, Vsn) =:= beams(NewRoot, App, Vsn) of
        true -> ok;
        false ->
            refuse("application ~s changed but kept its version ~s; bump its version (for your app: `version` in mix.exs)",
                   [App, Vsn])
    end.

%% #{Module => md5 of its code} for one application's ebin.
beams(Root, App, Vsn) ->
    Ebin = filename:join([Root, "lib", lib_dir(App, Vsn), "ebin"]),
    maps:from_list([begin
                        {ok, {Mod, Md5}} = beam_lib:md5(Beam),
                        {Mod, Md5}
                    end || Beam <- filelib:wildcard(filename:join(Ebin, "*.beam"))]).

appup(OldRoot, NewRoot, App, OV, NV) ->
    Ebin = filename:join([NewRoot, "lib", lib_dir(App, NV), "ebin"]),
    Target = filename:join(Ebin, atom_to_list(App) ++ ".appup"),
    Priv = filename:join([NewRoot, "lib", lib_dir(App, NV), "priv", atom_to_list(App) ++ ".appup"]),
    case {filelib:is_regular(Target), filelib:is_regular(Priv)} of
        {true, _} ->
            io:format("~s ~s -> ~s: using its own ebin/~s.appup~n", [App, OV, NV, App]);
        {false, true} ->
            {ok, _} = file:copy(Priv, Target),
            io:format("~s ~s -> ~s: using its own priv/~s.appup~n", [App, OV, NV, App]);
        {false, false} ->
            Old = beams(OldRoot, App, OV),
            New = beams(NewRoot, App, NV),
            Up = lists:sort([{add_module, M} || {M, _} <- maps:to_list(New), not maps:is_key(M, Old)])
                ++ lists:sort([change(M, filename:join(Ebin, atom_to_list(M) ++ ".beam"))
                               || {M, Md5} <- maps:to_list(New), maps:is_key(M, Old), maps:get(M, Old) =/= Md5])
                ++ lists:sort([{delete_module, M} || {M, _} <- maps:to_list(Old), not maps:is_key(M, New)]),
            Down = [undo(I) || I <- lists:reverse(Up)],
            Appup = {NV, [{OV, Up}], [{OV, Down}]},
            ok = file:write_file(Target, io_lib:format("~p.~n", [Appup])),
            io:format("~s ~s -> ~s: ~s~n", [App, OV, NV, describe(Up)])
    end.

%% A process module (one with code_change/3) is suspended, its state passed
%% through code_change/3; any other module is just loaded.
change(Mod, Beam) ->
    {ok, {Mod, [{exports, Exports}]}} = beam_lib:chunks(Beam, [exports]),
    case lists:member({code_change, 3}, Exports) of
        true -> {update, Mod, {advanced, []}};
        false -> {load_module, Mod}
    end.

undo({add_module, M}) -> {delete_module, M};
undo({delete_module, M}) -> {add_module, M};
undo(Same) -> Same.

describe([]) -> "no module changed";
describe(Instructions) ->
    Count = fun(Kind) -> length([I || I <- Instructions, element(1, I) =:= Kind]) end,
    lists:flatten(io_lib:format("~b load_module, ~b update, ~b add_module, ~b delete_module",
                                [Count(load_module), Count(update), Count(add_module), Count(delete_module)])).

ebin_dirs(Root) -> filelib:wildcard(filename:join([Root, "lib", "*", "ebin"])).

lib_dir(App, Vsn) -> atom_to_list(App) ++ "-" ++ Vsn.

flat(Chars) -> lists:flatten(io_lib:format("~ts", [Chars])).

refuse(Format, Args) -> throw({refuse, io_lib:format(Format, Args)}).
