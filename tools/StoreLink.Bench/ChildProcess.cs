using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace StoreLink.Bench;

/// <summary>
/// A process the bench starts (the server under test or the relay) on a loopback port. It is killed, with its
/// children, when disposed, when the bench exits, and on Ctrl+C, so no run leaves a server behind.
/// </summary>
public sealed class ChildProcess : IDisposable
{
    private static readonly ConcurrentDictionary<ChildProcess, bool> _running = new();

    private readonly Process _process;
    private readonly ConcurrentQueue<string> _tail = new();
    private readonly string? _deleteOnExit;

    static ChildProcess()
    {
        AppDomain.CurrentDomain.ProcessExit += (_, _) => KillAll();
        Console.CancelKeyPress += (_, _) => KillAll();
    }

    private ChildProcess(Process process, Uri url, string? deleteOnExit)
    {
        _process = process;
        Url = url;
        _deleteOnExit = deleteOnExit;
        _running[this] = true;
        process.OutputDataReceived += (_, e) => Remember(e.Data);
        process.ErrorDataReceived += (_, e) => Remember(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public Uri Url { get; }
    public int Pid => _process.Id;
    public bool HasExited => _process.HasExited;

    /// <summary>The last lines the process printed, for the report when it fails.</summary>
    public string Tail => string.Join(Environment.NewLine, _tail);

    public static void KillAll()
    {
        foreach (var child in _running.Keys)
            child.Dispose();
    }

    /// <summary>A free TCP port on 127.0.0.1, found by letting the kernel pick one.</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Starts StoreLink.Server.dll with a fresh data directory, the demo seed and sign-in limits raised for the set-up.</summary>
    public static ChildProcess StartServer(string dll, BenchOptions options)
    {
        if (!File.Exists(dll))
            throw new SetupException($"{dll} does not exist: build it first (dotnet build src/StoreLink.Server -c Release) or pass --server-dll.");
        var port = FreePort();
        var dataDirectory = Directory.CreateTempSubdirectory("storelink-bench-").FullName;
        var url = new Uri($"http://127.0.0.1:{port}");
        var start = DotnetStart(dll, ["--urls", url.ToString().TrimEnd('/'), "--demo"], dataDirectory);
        var env = start.Environment;
        env["ASPNETCORE_ENVIRONMENT"] = "Production";
        env["StoreLink__DataDirectory"] = dataDirectory;
        // The set-up signs in once per pair and per idle user from one address.
        env["Auth__RequestsPerMinutePerAddress"] = "1000000000";
        env["Auth__MaxFailuresPerAddress"] = "1000000";
        env["Storage__Provider"] = options.Provider;
        if (options.Provider == "postgres")
            env["Storage__ConnectionString"] = options.PostgresConnectionString;
        foreach (var (key, value) in options.ServerEnvironment)
            env[key] = value;
        return new ChildProcess(Process.Start(start)!, url, dataDirectory);
    }

    /// <summary>Starts this bench's own assembly as the relay, with the server's GC mode so the two compare fairly.</summary>
    public static ChildProcess StartRelay()
    {
        var port = FreePort();
        var start = DotnetStart(typeof(ChildProcess).Assembly.Location, ["--relay-serve", port.ToString(System.Globalization.CultureInfo.InvariantCulture)], null);
        // StoreLink.Server is a Web SDK project and so runs with server GC; the relay does the same.
        start.Environment["DOTNET_gcServer"] = "1";
        start.RedirectStandardInput = true;
        return new ChildProcess(Process.Start(start)!, new Uri($"http://127.0.0.1:{port}"), null);
    }

    /// <summary>coturn (Debian's <c>turnserver</c>) on a free loopback port with the repository's configuration and a secret made for this run.</summary>
    public static (ChildProcess Process, string Url, string Secret) StartTurn(string repository)
    {
        var port = FreePort();
        var secret = Convert.ToHexStringLower(Guid.NewGuid().ToByteArray());
        var directory = Directory.CreateTempSubdirectory("storelink-bench-turn-").FullName;
        var start = new ProcessStartInfo("turnserver")
        {
            UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true,
        };
        foreach (var a in (string[])["-c", Path.Combine(repository, ".ci", "coturn", "turnserver.conf"), "--listening-port", port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--static-auth-secret", secret, "--pidfile", Path.Combine(directory, "turnserver.pid"), "--log-file", Path.Combine(directory, "turnserver.log")])
            start.ArgumentList.Add(a);
        Process process;
        try
        {
            process = Process.Start(start)!;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            throw new SetupException("--turn needs coturn's turnserver (apt-get install coturn).");
        }
        return (new ChildProcess(process, new Uri($"http://127.0.0.1:{port}"), directory), $"turn:127.0.0.1:{port}?transport=udp", secret);
    }

    private static ProcessStartInfo DotnetStart(string dll, string[] args, string? workingDirectory)
    {
        // Under `dotnet x.dll` the process path is the dotnet host itself; under the apphost it is not.
        var host = Environment.ProcessPath is { } p && Path.GetFileNameWithoutExtension(p) == "dotnet" ? p : "dotnet";
        var start = new ProcessStartInfo(host)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
        };
        start.ArgumentList.Add(dll);
        foreach (var a in args)
            start.ArgumentList.Add(a);
        start.Environment.Remove("ASPNETCORE_URLS");
        return start;
    }

    /// <summary>Waits until <c>path</c> answers 200, the process exits, or the time is up.</summary>
    public async Task WaitReadyAsync(string path, TimeSpan timeout)
    {
        using var http = new HttpClient { BaseAddress = Url, Timeout = TimeSpan.FromSeconds(2) };
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < timeout)
        {
            if (_process.HasExited)
                throw new SetupException($"The process exited with code {_process.ExitCode} before it was ready:{Environment.NewLine}{Tail}");
            try
            {
                using var response = await http.GetAsync(path);
                if (response.IsSuccessStatusCode)
                    return;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
            }
            await Task.Delay(200);
        }
        throw new SetupException($"Not ready within {timeout.TotalSeconds:0} s:{Environment.NewLine}{Tail}");
    }

    private void Remember(string? line)
    {
        if (line is null)
            return;
        _tail.Enqueue(line);
        while (_tail.Count > 40)
            _tail.TryDequeue(out _);
    }

    public void Dispose()
    {
        if (!_running.TryRemove(this, out _))
            return;
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(10_000);
            }
        }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception)
        {
        }
        _process.Dispose();
        if (_deleteOnExit is not null)
        {
            try
            {
                Directory.Delete(_deleteOnExit, recursive: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }
        }
    }
}

/// <summary>The bench could not prepare the run (server would not start, sign-in failed, sockets would not open).</summary>
public sealed class SetupException(string message) : Exception(message);
