namespace StoreLink.Tests.Infrastructure;

/// <summary>
/// A clock that tests move by hand; timers still run on real time. Every clock of a run starts at the same
/// <see cref="Now"/>: real time moved, once per run, into a weekday 10:00–17:00 in Shanghai, when every demo store is
/// open. Otherwise a test that runs at night (in Shanghai) would get the stores' out-of-hours replies among its messages.
/// </summary>
public sealed class TestClock : TimeProvider
{
    /// <summary>How far this run's clocks are ahead of real time (zero when the run starts in opening hours).</summary>
    public static readonly TimeSpan RunOffset = ToOpeningHours(DateTimeOffset.UtcNow);

    /// <summary>The time the servers of this run see, before any test moves its own clock.</summary>
    public static DateTimeOffset Now => DateTimeOffset.UtcNow + RunOffset;

    private long _offsetTicks = RunOffset.Ticks;

    public override DateTimeOffset GetUtcNow() => base.GetUtcNow() + TimeSpan.FromTicks(Interlocked.Read(ref _offsetTicks));

    public void Advance(TimeSpan by) => Interlocked.Add(ref _offsetTicks, by.Ticks);

    /// <summary>Moves the clock to the next moment the local time in <paramref name="timeZone"/> is <paramref name="local"/>.</summary>
    public void AdvanceToLocal(TimeOnly local, string timeZone = "Asia/Shanghai")
    {
        var zone = TimeZoneInfo.FindSystemTimeZoneById(timeZone);
        var now = TimeZoneInfo.ConvertTime(GetUtcNow(), zone);
        var target = now.Date + local.ToTimeSpan();
        if (target <= now.DateTime)
            target = target.AddDays(1);
        Advance(new DateTimeOffset(target, zone.GetUtcOffset(target)) - GetUtcNow());
    }

    /// <summary>The shift from <paramref name="utc"/> to the next weekday 10:00–17:00 in Shanghai (zero if inside).</summary>
    internal static TimeSpan ToOpeningHours(DateTimeOffset utc)
    {
        var zone = TimeZoneInfo.FindSystemTimeZoneById("Asia/Shanghai");
        var local = TimeZoneInfo.ConvertTime(utc, zone);
        bool Weekday(DateTimeOffset t) => t.DayOfWeek is not (DayOfWeek.Saturday or DayOfWeek.Sunday);
        if (Weekday(local) && local.Hour is >= 10 and < 17)
            return TimeSpan.Zero;
        var day = local.Hour < 10 ? local.Date : local.Date.AddDays(1);
        while (!Weekday(new DateTimeOffset(day, local.Offset)))
            day = day.AddDays(1);
        return new DateTimeOffset(day.AddHours(10), local.Offset) - local;
    }
}
