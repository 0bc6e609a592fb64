using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace StoreLink.Tests.Infrastructure;

/// <summary>
/// The built server run as its own process (<c>dotnet StoreLink.Server.dll</c>) on a loopback port, as an operator
/// would run it: for start-up, restarts, administrative commands and being killed.
/// </summary>
public sealed class ServerProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private ServerProcess(Process process, int port)
    {
        _process = process;
        Port = port;
        Client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(30) };
    }

    public int Port { get; }
    public HttpClient Client { get; }

    public string Output
    {
        get
        {
            lock (_output)
                return _output.ToString();
        }
    }

    public static string ServerDll
    {
        get
        {
            // tests/StoreLink.Tests/bin/<Configuration>/net10.0/ → src/StoreLink.Server/bin/<Configuration>/net10.0/
            var bin = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
            var configuration = bin.Parent!.Name;
            var root = bin.Parent.Parent!.Parent!.Parent!.Parent!.FullName;
            return Path.Combine(root, "src", "StoreLink.Server", "bin", configuration, bin.Name, "StoreLink.Server.dll");
        }
    }

    public static ProcessStartInfo StartInfo(string dataDirectory, IEnumerable<string> args, IReadOnlyDictionary<string, string>? env = null)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetDirectoryName(ServerDll)!,
        };
        info.ArgumentList.Add(ServerDll);
        foreach (var arg in args)
            info.ArgumentList.Add(arg);
        info.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        info.Environment["StoreLink__DataDirectory"] = dataDirectory;
        info.Environment["Logging__LogLevel__Default"] = "Warning";
        foreach (var (key, value) in env ?? new Dictionary<string, string>())
            info.Environment[key] = value;
        return info;
    }

    /// <summary>Runs an administrative command to its end: exit code and everything it printed.</summary>
    public static async Task<(int ExitCode, string Output)> RunToEndAsync(string dataDirectory, IEnumerable<string> args, IReadOnlyDictionary<string, string>? env = null)
    {
        using var process = Process.Start(StartInfo(dataDirectory, args, env))!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout + await stderr);
    }

    /// <summary>Starts the server and waits until it answers <c>/healthz</c> (or has exited, which the caller sees).</summary>
    public static async Task<ServerProcess> StartAsync(string dataDirectory, IEnumerable<string>? args = null, IReadOnlyDictionary<string, string>? env = null)
    {
        var port = FreePort();
        var info = StartInfo(dataDirectory, (args ?? []).Concat(["--urls", $"http://127.0.0.1:{port}"]), env);
        var server = new ServerProcess(new Process { StartInfo = info }, port);
        server._process.OutputDataReceived += (_, e) => server.Append(e.Data);
        server._process.ErrorDataReceived += (_, e) => server.Append(e.Data);
        server._process.Start();
        server._process.BeginOutputReadLine();
        server._process.BeginErrorReadLine();

        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline && !server._process.HasExited)
        {
            try
            {
                using var response = await server.Client.GetAsync("/healthz");
                if (response.StatusCode == HttpStatusCode.OK)
                    return server;
            }
            catch (HttpRequestException)
            {
            }
            await Task.Delay(100);
        }
        return server;
    }

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    public async Task WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cts.Token);
    }

    /// <summary><c>kill -9</c>: no shutdown, no flushing; what is durable survives.</summary>
    public void Kill() => _process.Kill(entireProcessTree: true);

    private void Append(string? line)
    {
        if (line is null)
            return;
        lock (_output)
            _output.AppendLine(line);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
    }
}
