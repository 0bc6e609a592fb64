using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Hosting;
namespace StoreLink.Bench;

/// <summary>Starts (or finds) a target, prepares it and runs the load against it.</summary>
public static class Runs
{
    public static async Task<RunResult> RelayAsync(BenchOptions options, string runId)
    {
        await WaitIdleAsync(options);
        using var setup = new CancellationTokenSource(TimeSpan.FromSeconds(options.SetupSeconds));
        if (options.RelayInProcess)
        {
            var port = ChildProcess.FreePort();
            await using var app = Relay.Build(port);
            await app.StartAsync(setup.Token);
            var target = new Target("relay", new Uri($"http://127.0.0.1:{port}"), Environment.ProcessId, InBenchProcess: true, "none");
            var result = await new LoadRun(options, target, RelaySetup.Prepare(options), runId).RunAsync(setup.Token);
            await app.StopAsync(CancellationToken.None);
            return result;
        }
        using var child = ChildProcess.StartRelay();
        await child.WaitReadyAsync("/healthz", TimeSpan.FromSeconds(30));
        Log($"relay started (pid {child.Pid}) at {child.Url}");
        return await new LoadRun(options, new Target("relay", child.Url, child.Pid, InBenchProcess: false, "none"), RelaySetup.Prepare(options), runId)
            .RunAsync(setup.Token);
    }

    public static Task<RunResult> StoreLinkAsync(BenchOptions options, string runId) =>
        WithServerAsync(options, runId, async (target, prepared, child, ct) =>
        {
            var result = await new LoadRun(options, target, prepared, runId).RunAsync(ct);
            if (child is { HasExited: true })
                result.Problems.Add($"the server exited during the run:{Environment.NewLine}{child.Tail}");
            return result;
        });

    /// <summary><c>--calls</c>: the signalling of one call per pair (<see cref="CallSignalling"/>); the exit code.</summary>
    public static Task<int> CallsAsync(BenchOptions options, string runId) =>
        WithServerAsync(options, runId, async (target, prepared, child, _) =>
        {
            var code = await new CallSignalling(options, target, prepared).RunAsync(CancellationToken.None);
            if (child is { HasExited: true })
            {
                Console.WriteLine($"the server exited during the run:{Environment.NewLine}{child.Tail}");
                return 1;
            }
            return code;
        });

    /// <summary><c>--call-setup</c>: calls in Chromium between one visitor and one agent (<see cref="CallSetup"/>); the exit code.</summary>
    public static async Task<int> CallSetupAsync(BenchOptions options, string runId)
    {
        ChildProcess? turn = null;
        try
        {
            if (options.Turn)
            {
                (turn, var url, var secret) = ChildProcess.StartTurn(Repository());
                Log($"coturn started (pid {turn.Pid}) at {url}");
                options.ServerEnvironment.Add(new("Calls__Turn__Urls__0", url));
                options.ServerEnvironment.Add(new("Calls__Turn__Secret", secret));
                options.ServerEnvironment.Add(new("Calls__Turn__ForceRelay", "true"));
            }
            return await WithServerAsync(options, runId, (target, prepared, _, ct) => new CallSetup(options, target, prepared.Pairs[0]).RunAsync(ct));
        }
        finally
        {
            turn?.Dispose();
        }
    }

    /// <summary>Starts (or finds) the server, prepares the pairs through its API, and runs <paramref name="run"/> against it.</summary>
    private static async Task<T> WithServerAsync<T>(BenchOptions options, string runId, Func<Target, Prepared, ChildProcess?, CancellationToken, Task<T>> run)
    {
        await WaitIdleAsync(options);
        using var setup = new CancellationTokenSource(TimeSpan.FromSeconds(options.SetupSeconds));
        ChildProcess? child = null;
        try
        {
            Target target;
            if (options.Server is { } url)
            {
                target = new Target("storelink", url, options.ServerPid, InBenchProcess: false, options.Provider);
            }
            else
            {
                var dll = options.ServerDll ?? DefaultServerDll();
                child = ChildProcess.StartServer(dll, options);
                await child.WaitReadyAsync("/readyz", TimeSpan.FromSeconds(60));
                Log($"server started (pid {child.Pid}) at {child.Url} from {dll}");
                target = new Target("storelink", child.Url, child.Pid, InBenchProcess: false, options.Provider);
            }
            Log($"preparing {options.Pairs} stores, agents and visitors" + (options.Idle > 0 ? $" and {Math.Min(options.IdleUsers, options.Idle)} idle visitors" : ""));
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var prepared = await StoreLinkSetup.PrepareAsync(target.Url, options, runId, setup.Token);
            Log($"prepared in {clock.Elapsed.TotalSeconds:0.0} s");
            return await run(target, prepared, child, setup.Token);
        }
        catch (OperationCanceledException) when (setup.IsCancellationRequested)
        {
            throw new SetupException($"Set-up took longer than {options.SetupSeconds} s (--setup-timeout).");
        }
        finally
        {
            child?.Dispose();
        }
    }

    /// <summary>The server's Release build in the repository this bench was built from.</summary>
    private static string DefaultServerDll() =>
        Path.Combine(Repository(), "src", "StoreLink.Server", "bin", "Release", "net10.0", "StoreLink.Server.dll");

    /// <summary>The repository (the folder with StoreLink.slnx) this bench was built in.</summary>
    private static string Repository()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "StoreLink.slnx")))
                return dir.FullName;
        throw new SetupException("Cannot find the repository (StoreLink.slnx) above the bench; pass --server-dll.");
    }

    private static async Task WaitIdleAsync(BenchOptions options)
    {
        if (options.WaitIdleSeconds <= 0)
            return;
        Log($"waiting up to {options.WaitIdleSeconds:0} s for the machine to be idle");
        Log(await ProcStat.WaitIdleAsync(TimeSpan.FromSeconds(options.WaitIdleSeconds))
            ? "the machine is idle" : "the machine is still busy; running anyway (see \"other processes\" in the results)");
    }

    private static void Log(string text) => Console.Error.WriteLine($"{DateTime.Now:HH:mm:ss} {text}");
}
