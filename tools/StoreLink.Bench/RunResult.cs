using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace StoreLink.Bench;

/// <summary>The figures of one run; written to the console as a table and, with <c>--out</c>, as JSON.</summary>
public sealed class RunResult
{
    public string Target { get; set; } = "";
    public string Url { get; set; } = "";
    public string Provider { get; set; } = "";
    public int Pairs { get; set; }
    public double RateTarget { get; set; }
    public double WarmupSeconds { get; set; }
    public bool Ramp { get; set; }
    public double DurationSeconds { get; set; }
    public double WindowSeconds { get; set; }
    public int IdleRequested { get; set; }
    public int IdleConnected { get; set; }
    public double? IdleConnectSeconds { get; set; }

    public long Scheduled { get; set; }
    public long Sent { get; set; }
    public long Acked { get; set; }
    public long Delivered { get; set; }
    public long AckedInWindow { get; set; }
    public double AckedPerSecond { get; set; }
    public double DeliveredPerSecond { get; set; }
    /// <summary>
    /// Whether the target answered at the offered rate (within 2 %). When it did not, the backlog grows for the
    /// whole run, latencies grow with it and are no steady state, and what is still queued when the grace period
    /// ends counts as lost.
    /// </summary>
    public bool KeptUp => Pairs == 0 || AckedPerSecond >= 0.98 * RateTarget;
    public LoadRun.Latency? AckMs { get; set; }
    public LoadRun.Latency? DeliveryMs { get; set; }
    public LoadRun.Latency? SendLagMs { get; set; }

    public double? ServerCpuSeconds { get; set; }
    public double? ServerCpuPer1000 { get; set; }
    public double BenchCpuSeconds { get; set; }
    public double? BenchCpuPer1000 { get; set; }
    /// <summary>True when the target ran inside the bench process, so its CPU is part of the bench's.</summary>
    public bool ServerCpuIncludedInBench { get; set; }
    /// <summary>Average cores other processes kept busy during the window; more than a little makes the run suspect.</summary>
    public double? OtherCores { get; set; }
    /// <summary>The bench's own garbage-collection pauses in the measured window, to tell its stalls from the target's.</summary>
    public double BenchGcPauseMs { get; set; }
    public int BenchGcCount { get; set; }
    public double? ServerRssMbBeforeIdle { get; set; }
    public double? ServerRssMbAfterIdle { get; set; }
    public double? ServerRssMbAtEnd { get; set; }
    public int? ServerOpenFiles { get; set; }

    public long Lost { get; set; }
    public long Duplicated { get; set; }
    public long Reordered { get; set; }
    public long Unacked { get; set; }
    public long Unsent { get; set; }
    public long Errors { get; set; }
    public long Mismatched { get; set; }
    public long Misrouted { get; set; }
    public long DoubleAcks { get; set; }
    public long UnexpectedCloses { get; set; }
    /// <summary>Pushes that reached a new socket before its ready frame.</summary>
    public long FramesBeforeReady { get; set; }

    public Dictionary<string, long> FramesToCustomers { get; set; } = [];
    public Dictionary<string, long> FramesToAgents { get; set; } = [];
    public Dictionary<string, long> FramesToIdle { get; set; } = [];
    public List<SecondStats> Timeline { get; set; } = [];
    public List<string> Problems { get; set; } = [];

    [JsonIgnore]
    public long MeasureFromTicks { get; set; }
    [JsonIgnore]
    public long MeasureToTicks { get; set; }

    /// <summary>Why this run failed its correctness checks, or an empty list.</summary>
    public List<string> Failures()
    {
        var failures = new List<string>();
        void Check(long value, string what)
        {
            if (value != 0)
                failures.Add($"{Target}: {value} {what}");
        }
        Check(Lost, KeptUp ? "lost (acked, not delivered to the agent within the grace period)"
            : "lost (acked, not delivered to the agent within the grace period; the target did not keep up, so they may only be late)");
        Check(Duplicated, "delivered twice");
        Check(Reordered, "delivered out of order");
        Check(Mismatched, "delivered with another seq than acked");
        Check(Misrouted, "delivered to the wrong agent");
        Check(DoubleAcks, "acknowledged twice");
        Check(Unacked, "never acknowledged");
        Check(Unsent, "never sent (the bench's socket failed)");
        Check(Errors, "answered with an error");
        Check(UnexpectedCloses, "sockets closed by the server");
        if (IdleConnected < IdleRequested)
            failures.Add($"{Target}: only {IdleConnected} of {IdleRequested} idle sockets opened");
        return failures;
    }
}

/// <summary>The console table (one column per run, plus the server/relay ratio) and the JSON file.</summary>
public static class Report
{
    public static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        // Percentiles of an empty set are NaN.
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public static string Table(IReadOnlyList<RunResult> runs)
    {
        var rows = new List<(string Label, Func<RunResult, string> Value, Func<RunResult, double?>? Ratio)>
        {
            ("target", r => r.Target + (r.Target == "storelink" ? $" ({r.Provider})" : ""), null),
            ("pairs / idle sockets open", r => $"{r.Pairs} / {r.IdleConnected}", null),
            ("target rate (msg/s)", r => F(r.RateTarget, 0), null),
            ("acked (msg/s, measured window)", r => F(r.AckedPerSecond, 1), r => r.AckedPerSecond),
            ("delivered (msg/s)", r => F(r.DeliveredPerSecond, 1), null),
            ("kept up with the offered rate", r => r.KeptUp ? "yes" : "NO: overloaded", null),
            ("ack latency p50 / p99 / p99.9 (ms)", r => L(r.AckMs), r => r.AckMs?.P99),
            ("ack latency max (ms)", r => F(r.AckMs?.Max, 1), null),
            ("delivery p50 / p99 / p99.9 (ms)", r => L(r.DeliveryMs), r => r.DeliveryMs?.P99),
            ("delivery max (ms)", r => F(r.DeliveryMs?.Max, 1), null),
            ("bench send lag p50 / p99 (ms)", r => $"{F(r.SendLagMs?.P50, 2)} / {F(r.SendLagMs?.P99, 2)}", null),
            ("server CPU (s in window)", r => r.ServerCpuIncludedInBench ? "in bench" : F(r.ServerCpuSeconds, 2), null),
            ("server CPU s / 1,000 msgs", r => F(r.ServerCpuPer1000, 4), r => r.ServerCpuPer1000),
            ("bench CPU s / 1,000 msgs", r => F(r.BenchCpuPer1000, 4), null),
            ("other processes (cores busy, avg)", r => F(r.OtherCores, 2), null),
            ("bench GC: collections / pause (ms)", r => $"{r.BenchGcCount} / {F(r.BenchGcPauseMs, 1)}", null),
            ("server RSS MB: start / +idle / end", r => $"{F(r.ServerRssMbBeforeIdle, 0)} / {F(r.ServerRssMbAfterIdle, 0)} / {F(r.ServerRssMbAtEnd, 0)}", null),
            ("idle sockets opened in (s)", r => F(r.IdleConnectSeconds, 1), null),
            ("server open files (end)", r => r.ServerOpenFiles?.ToString(CultureInfo.InvariantCulture) ?? "-", null),
            ("sent / acked / delivered", r => $"{r.Sent} / {r.Acked} / {r.Delivered}", null),
            ("lost / duplicated / reordered", r => $"{r.Lost} / {r.Duplicated} / {r.Reordered}", null),
            ("unacked / errors / closed by server", r => $"{r.Unacked} / {r.Errors} / {r.UnexpectedCloses}", null),
            ("frames before ready (at connect)", r => r.FramesBeforeReady.ToString(CultureInfo.InvariantCulture), null),
            ("frames to customers", r => Frames(r.FramesToCustomers), null),
            ("frames to agents", r => Frames(r.FramesToAgents), null),
        };
        var ratio = runs.Count == 2 && runs[0].Target == "relay";
        var width = rows.Max(r => r.Label.Length) + 2;
        var columns = runs.Select(r => Math.Max(24, rows.Max(row => row.Value(r).Length) + 2)).ToList();
        var text = new StringBuilder();
        foreach (var (label, value, ratioOf) in rows)
        {
            text.Append(label.PadRight(width));
            for (var i = 0; i < runs.Count; i++)
                text.Append(value(runs[i]).PadRight(columns[i]));
            if (ratio && ratioOf is not null && ratioOf(runs[0]) is { } relay && ratioOf(runs[1]) is { } server && relay > 0 && double.IsFinite(server / relay))
                text.Append(CultureInfo.InvariantCulture, $"×{server / relay:0.00} server/relay");
            text.AppendLine();
        }
        return text.ToString();
    }

    private static string L(LoadRun.Latency? l) => l is null ? "-" : $"{F(l.P50, 2)} / {F(l.P99, 2)} / {F(l.P999, 2)}";

    private static string F(double? value, int decimals) =>
        value is null or double.NaN ? "-" : value.Value.ToString("N" + decimals, CultureInfo.InvariantCulture);

    private static string Frames(Dictionary<string, long> counts) =>
        counts.Count == 0 ? "-" : string.Join(" ", counts.OrderByDescending(c => c.Value).Select(c => $"{c.Key}:{c.Value}"));
}
