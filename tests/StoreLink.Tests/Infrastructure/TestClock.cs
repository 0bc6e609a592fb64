namespace StoreLink.Tests.Infrastructure;

/// <summary>A clock that tests move by hand; timers still run on real time.</summary>
public sealed class TestClock : TimeProvider
{
    private long _offsetTicks;

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
}
