using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text.RegularExpressions;

[assembly: AssemblyFixture(typeof(StoreLink.Tests.Infrastructure.MediaEngines))]

namespace StoreLink.Tests.Infrastructure;

/// <summary>
/// coturn and Janus for the call tests: each started once per run, at the first test that asks, on a free loopback
/// port with the repository's configuration (<c>.ci/coturn</c>, <c>.ci/janus</c>) and a secret of this run, and stopped
/// at the end of the run. Outside CI a missing binary skips the tests that need it; in CI (<c>CI=true</c>) it fails them.
/// </summary>
public sealed class MediaEngines : IAsyncLifetime
{
    private static readonly SemaphoreSlim StartLock = new(1, 1);
    private static readonly string Root = Path.Combine(Path.GetTempPath(), "storelink-media", Guid.NewGuid().ToString("N")[..12]);
    private static Coturn? _coturn;
    private static Janus? _janus;

    /// <summary>The repository's root (the test assembly runs from <c>tests/StoreLink.Tests/bin/&lt;config&gt;/net10.0</c>).</summary>
    public static string Repository =>
        new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar)).Parent!.Parent!.Parent!.Parent!.Parent!.FullName;

    public static async Task<Coturn> CoturnAsync()
    {
        await StartLock.WaitAsync();
        try
        {
            if (_coturn is { HasExited: false })
                return _coturn;
            Require("turnserver", "coturn");
            var directory = Directory.CreateDirectory(Path.Combine(Root, "coturn")).FullName;
            var port = FreePort(udpToo: true);
            var secret = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
            var process = Start("turnserver",
                "-c", Path.Combine(Repository, ".ci", "coturn", "turnserver.conf"), "--listening-port", port.ToString(),
                "--static-auth-secret", secret, "--pidfile", Path.Combine(directory, "turnserver.pid"),
                "--log-file", Path.Combine(directory, "turnserver.log"));
            // coturn listens on TCP and UDP at once; its TCP port accepting means it is ready.
            await UntilAsync(process, "coturn", async () =>
            {
                using var tcp = new TcpClient();
                await tcp.ConnectAsync(IPAddress.Loopback, port);
                return true;
            });
            return _coturn = new Coturn(process, port, secret);
        }
        finally
        {
            StartLock.Release();
        }
    }

    public static async Task<Janus> JanusAsync()
    {
        await StartLock.WaitAsync();
        try
        {
            if (_janus is { HasExited: false })
                return _janus;
            Require("janus", "janus");
            Require("janus-pp-rec", "janus-tools");
            var directory = Directory.CreateDirectory(Path.Combine(Root, "janus")).FullName;
            var configs = Directory.CreateDirectory(Path.Combine(directory, "conf")).FullName;
            var recordings = Directory.CreateDirectory(Path.Combine(directory, "recordings")).FullName;
            var port = FreePort(udpToo: false);
            var adminKey = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
            foreach (var file in Directory.EnumerateFiles(Path.Combine(Repository, ".ci", "janus"), "*.jcfg"))
            {
                var text = await File.ReadAllTextAsync(file);
                text = Regex.Replace(text, @"(?m)^(\s*port\s*=\s*)\d+", $"${{1}}{port}");
                text = Regex.Replace(text, @"(?m)^(\s*admin_key\s*=\s*)""[^""]*""", $"${{1}}\"{adminKey}\"");
                await File.WriteAllTextAsync(Path.Combine(configs, Path.GetFileName(file)), text);
            }
            var process = Start("janus", "-F", configs, "-C", Path.Combine(configs, "janus.jcfg"), "-N", "-o",
                "-L", Path.Combine(directory, "janus.log"));
            var url = new Uri($"http://127.0.0.1:{port}/janus");
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
            await UntilAsync(process, "Janus", async () => (await http.GetAsync($"{url}/info")).IsSuccessStatusCode);
            return _janus = new Janus(process, url, adminKey, recordings);
        }
        finally
        {
            StartLock.Release();
        }
    }

    private static void Require(string binary, string package)
    {
        var path = Environment.GetEnvironmentVariable("PATH") ?? "";
        if (path.Split(Path.PathSeparator).Any(d => File.Exists(Path.Combine(d, binary))))
            return;
        var message = $"{binary} is not installed (apt-get install {package}).";
        if (TestDatabases.InCi)
            throw new InvalidOperationException(message + " In CI every test must run.");
        Assert.Skip(message);
    }

    private static Process Start(string binary, params string[] arguments)
    {
        var info = new ProcessStartInfo(binary) { UseShellExecute = false, RedirectStandardOutput = false, RedirectStandardError = false };
        foreach (var argument in arguments)
            info.ArgumentList.Add(argument);
        return Process.Start(info)!;
    }

    /// <summary>Waits until <paramref name="ready"/> answers true (exceptions count as not yet), up to a minute on a busy machine.</summary>
    private static async Task UntilAsync(Process process, string what, Func<Task<bool>> ready)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            if (process.HasExited)
                throw new InvalidOperationException($"{what} exited with {process.ExitCode} at start; its log is under {Root}.");
            try
            {
                if (await ready())
                    return;
            }
            catch (Exception e) when (e is SocketException or HttpRequestException or TaskCanceledException)
            {
            }
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"{what} did not answer within a minute; its log is under {Root}.");
            await Task.Delay(100);
        }
    }

    /// <summary>A loopback port free for TCP (and for UDP too when <paramref name="udpToo"/>: TURN listens on both).</summary>
    private static int FreePort(bool udpToo)
    {
        for (var attempt = 0; ; attempt++)
        {
            using var tcp = new TcpListener(IPAddress.Loopback, 0);
            tcp.Start();
            var port = ((IPEndPoint)tcp.LocalEndpoint).Port;
            if (!udpToo)
                return port;
            try
            {
                using var udp = new UdpClient(new IPEndPoint(IPAddress.Loopback, port));
                return port;
            }
            catch (SocketException) when (attempt < 20)
            {
            }
        }
    }

    public ValueTask InitializeAsync() => ValueTask.CompletedTask;

    public async ValueTask DisposeAsync()
    {
        foreach (var engine in new Engine?[] { _coturn, _janus })
            if (engine is not null)
                await engine.DisposeAsync();
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>A media engine process of the run; disposing stops it.</summary>
public abstract class Engine(Process process) : IAsyncDisposable
{
    public bool HasExited => process.HasExited;

    public async ValueTask DisposeAsync()
    {
        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
        process.Dispose();
    }
}

/// <summary>coturn on 127.0.0.1:<see cref="Port"/> (UDP and TCP), checking credentials signed with <see cref="Secret"/>.</summary>
public sealed class Coturn(Process process, int port, string secret) : Engine(process)
{
    public int Port { get; } = port;
    public string Secret { get; } = secret;

    /// <summary>The server's settings that hand out this coturn (<c>Calls:Turn:*</c>).</summary>
    public Dictionary<string, string?> Settings(bool forceRelay = false) => new()
    {
        ["Calls:Turn:Urls:0"] = $"turn:127.0.0.1:{Port}?transport=udp",
        ["Calls:Turn:Urls:1"] = $"turn:127.0.0.1:{Port}?transport=tcp",
        ["Calls:Turn:Secret"] = Secret,
        ["Calls:Turn:ForceRelay"] = forceRelay ? "true" : "false",
    };
}

/// <summary>Janus's HTTP API at <see cref="Url"/>, the VideoRoom creating rooms only with <see cref="AdminKey"/>.</summary>
public sealed class Janus(Process process, Uri url, string adminKey, string recordingsDirectory) : Engine(process)
{
    public Uri Url { get; } = url;
    public string AdminKey { get; } = adminKey;
    public string RecordingsDirectory { get; } = recordingsDirectory;

    /// <summary>The server's settings that use this Janus (<c>Calls:Janus:*</c>).</summary>
    public Dictionary<string, string?> Settings() => new()
    {
        ["Calls:Janus:Url"] = Url.ToString(),
        ["Calls:Janus:ApiSecret"] = AdminKey,
        ["Calls:Janus:RecordingsDirectory"] = RecordingsDirectory,
    };
}
