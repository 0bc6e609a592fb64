using System.Globalization;

namespace StoreLink.Bench;

/// <summary>What Linux's /proc tells about a process: CPU time, resident memory, the file-descriptor limit.</summary>
public static class ProcStat
{
    // USER_HZ: the unit of utime/stime in /proc/<pid>/stat. Fixed at 100 by the Linux ABI on every common platform.
    private const double TicksPerSecond = 100;

    /// <summary>User plus system CPU seconds the process has used so far (utime + stime), or null when it is gone.</summary>
    public static double? CpuSeconds(int pid)
    {
        string text;
        try
        {
            text = File.ReadAllText($"/proc/{pid}/stat");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
        // The command name (field 2) is in parentheses and may hold spaces: count fields after the last ')'.
        var fields = text[(text.LastIndexOf(')') + 2)..].Split(' ');
        // fields[0] is field 3 (state), so utime (14) and stime (15) are fields[11] and fields[12].
        var utime = long.Parse(fields[11], CultureInfo.InvariantCulture);
        var stime = long.Parse(fields[12], CultureInfo.InvariantCulture);
        return (utime + stime) / TicksPerSecond;
    }

    /// <summary>
    /// CPU seconds the whole machine was busy so far (user, nice, system, irq, softirq, steal from /proc/stat),
    /// to tell how much of the window other processes took: the bench and the server share the machine with them.
    /// </summary>
    public static double? MachineBusySeconds()
    {
        try
        {
            var fields = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries);
            long Field(int i) => i < fields.Length ? long.Parse(fields[i], CultureInfo.InvariantCulture) : 0;
            // cpu user nice system idle iowait irq softirq steal
            return (Field(1) + Field(2) + Field(3) + Field(6) + Field(7) + Field(8)) / TicksPerSecond;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            return null;
        }
    }

    /// <summary>Waits until the machine has been idle for 3 s, or the time is up; answers whether it was.</summary>
    public static async Task<bool> WaitIdleAsync(TimeSpan limit)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (clock.Elapsed < limit)
        {
            var before = MachineBusySeconds();
            await Task.Delay(TimeSpan.FromSeconds(3));
            if (MachineBusySeconds() - before is not { } busy || busy < 0.05 * 3 * Environment.ProcessorCount)
                return true;
        }
        return false;
    }

    /// <summary>Resident set size in bytes, or null when the process is gone.</summary>
    public static long? RssBytes(int pid)
    {
        try
        {
            var statm = File.ReadAllText($"/proc/{pid}/statm").Split(' ');
            return long.Parse(statm[1], CultureInfo.InvariantCulture) * Environment.SystemPageSize;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>The soft limit on open files of this process (children inherit it), or null when unknown.</summary>
    public static long? OpenFileLimit()
    {
        try
        {
            var line = File.ReadLines("/proc/self/limits").FirstOrDefault(l => l.StartsWith("Max open files", StringComparison.Ordinal));
            var soft = line?["Max open files".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries)[0];
            return soft is null or "unlimited" ? null : long.Parse(soft, CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            return null;
        }
    }

    /// <summary>Open file descriptors of a process right now, or null when they cannot be counted.</summary>
    public static int? OpenFiles(int pid)
    {
        try
        {
            return Directory.EnumerateFileSystemEntries($"/proc/{pid}/fd").Count();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    public static string Machine()
    {
        string cpu = "unknown CPU";
        try
        {
            cpu = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? cpu;
        }
        catch (IOException)
        {
        }
        var memory = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / (1024.0 * 1024 * 1024);
        return $"{Environment.ProcessorCount} cores ({cpu}), {memory:0} GiB, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}, " +
            $".NET {Environment.Version}";
    }
}
