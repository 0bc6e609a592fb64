using System.Text.Json;
using StoreLink.Bench;

BenchOptions options;
try
{
    options = BenchOptions.Parse(args);
}
catch (ArgumentException e)
{
    Console.Error.WriteLine(e.Message);
    return 2;
}
if (options.Help)
{
    Console.WriteLine(BenchOptions.Usage);
    return 0;
}
if (options.RelayServePort is { } relayPort)
    return await Relay.ServeUntilStdinClosesAsync(relayPort);

// The bench stops by itself whatever happens: past the hard limit it kills what it started and exits.
using var watchdog = new Timer(_ =>
{
    Console.Error.WriteLine($"Hard time limit of {options.HardLimit.TotalSeconds:0} s reached; stopping.");
    ChildProcess.KillAll();
    Environment.Exit(3);
}, null, options.HardLimit, Timeout.InfiniteTimeSpan);

var fdLimit = ProcStat.OpenFileLimit();
var fdNeeded = options.Idle + 2 * options.Pairs + 200;
Console.WriteLine($"machine: {ProcStat.Machine()}");
Console.WriteLine($"open-file limit: {fdLimit?.ToString() ?? "unlimited"} (this run needs about {fdNeeded} in the bench and as many in the server)");
if (fdLimit < fdNeeded)
{
    Console.Error.WriteLine($"The open-file limit {fdLimit} is too low for {options.Idle} idle and {options.Pairs * 2} pair sockets: run `ulimit -n 65536` first " +
        "(the hard limit, `ulimit -Hn`, must allow it), or open fewer idle sockets.");
    return 2;
}

var runId = Convert.ToHexStringLower(Guid.NewGuid().ToByteArray().AsSpan(0, 4));
if (options.Calls || options.CallSetups > 0)
{
    try
    {
        return options.Calls ? await Runs.CallsAsync(options, runId) : await Runs.CallSetupAsync(options, runId);
    }
    catch (Exception e) when (e is SetupException or System.Net.WebSockets.WebSocketException or HttpRequestException or OperationCanceledException)
    {
        Console.Error.WriteLine($"Set-up failed: {e.Message}");
        return 2;
    }
    finally
    {
        ChildProcess.KillAll();
    }
}
var runs = new List<RunResult>();
try
{
    if (options.Baseline || options.BaselineOnly)
        runs.Add(await Runs.RelayAsync(options, runId));
    if (!options.BaselineOnly)
        runs.Add(await Runs.StoreLinkAsync(options, runId));
}
catch (Exception e) when (e is SetupException or System.Net.WebSockets.WebSocketException or HttpRequestException or OperationCanceledException)
{
    Console.Error.WriteLine($"Set-up failed: {e.Message}");
    return 2;
}
finally
{
    ChildProcess.KillAll();
}

Console.WriteLine();
Console.WriteLine(Report.Table(runs));
var failures = runs.SelectMany(r => r.Failures()).ToList();
foreach (var problem in runs.SelectMany(r => r.Problems.Take(10).Select(p => $"{r.Target}: {p}")))
    Console.WriteLine($"  note: {problem}");
if (options.Out is not null)
{
    await File.WriteAllTextAsync(options.Out, JsonSerializer.Serialize(new
    {
        machine = ProcStat.Machine(),
        command = string.Join(' ', args),
        started_at = DateTimeOffset.UtcNow,
        open_file_limit = fdLimit,
        runs,
        failures,
    }, Report.Json));
    Console.WriteLine($"results written to {options.Out}");
}
if (failures.Count == 0)
{
    Console.WriteLine("correctness: nothing lost, duplicated, reordered or left unanswered.");
    return 0;
}
Console.WriteLine("correctness FAILED:");
foreach (var failure in failures)
    Console.WriteLine($"  {failure}");
return 1;
