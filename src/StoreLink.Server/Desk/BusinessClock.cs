using StoreLink.Protocol;
using StoreLink.Server.Accounts;

namespace StoreLink.Server.Desk;

/// <summary>
/// A store's weekly opening hours in its own time zone, as arithmetic on instants: is it open, when does it open
/// next, how much business time lies between two instants, and when a span of business time ends (SLA due times).
/// Intervals are local times of each day; the conversion to UTC goes through the time zone, so daylight-saving
/// changes are honoured where a zone has them.
/// </summary>
public sealed class BusinessClock
{
    private static readonly TimeSpan Horizon = TimeSpan.FromDays(14);
    private readonly IReadOnlyDictionary<string, IReadOnlyList<HoursRange>> _weekly;
    private readonly TimeZoneInfo _zone;

    public BusinessClock(IReadOnlyDictionary<string, IReadOnlyList<HoursRange>> weekly, string timeZone)
    {
        _weekly = weekly;
        _zone = TimeZoneInfo.FindSystemTimeZoneById(timeZone);
    }

    public static BusinessClock Of(StoreRow store) => new(WeeklyHours.Parse(store.BusinessHours), store.TimeZone);

    /// <summary>Whether the store has any opening hours at all.</summary>
    public bool HasHours => _weekly.Values.Any(d => d.Count > 0);

    public bool IsOpen(DateTimeOffset at) => Intervals(at - TimeSpan.FromDays(1), at + TimeSpan.FromDays(1)).Any(i => i.Start <= at && at < i.End);

    /// <summary>The instant the store is open next (<paramref name="at"/> itself when open), or null without hours in two weeks.</summary>
    public DateTimeOffset? NextOpening(DateTimeOffset at)
    {
        foreach (var (start, end) in Intervals(at - TimeSpan.FromDays(1), at + Horizon))
        {
            if (start <= at && at < end)
                return at;
            if (start > at)
                return start;
        }
        return null;
    }

    /// <summary>Business time between two instants (zero when <paramref name="to"/> is not after <paramref name="from"/>).</summary>
    public TimeSpan Elapsed(DateTimeOffset from, DateTimeOffset to)
    {
        if (to <= from)
            return TimeSpan.Zero;
        var total = TimeSpan.Zero;
        foreach (var (start, end) in Intervals(from, to))
        {
            var s = start > from ? start : from;
            var e = end < to ? end : to;
            if (e > s)
                total += e - s;
        }
        return total;
    }

    /// <summary>The instant at which <paramref name="business"/> of opening time has passed since <paramref name="from"/>.</summary>
    public DateTimeOffset? Add(DateTimeOffset from, TimeSpan business)
    {
        var left = business;
        foreach (var (start, end) in Intervals(from, from + TimeSpan.FromDays(370)))
        {
            var s = start > from ? start : from;
            if (end <= s)
                continue;
            if (end - s >= left)
                return s + left;
            left -= end - s;
        }
        return null;
    }

    /// <summary>Opening intervals (UTC instants) that touch [from, to], in order.</summary>
    private IEnumerable<(DateTimeOffset Start, DateTimeOffset End)> Intervals(DateTimeOffset from, DateTimeOffset to)
    {
        if (!HasHours)
            yield break;
        var day = DateOnly.FromDateTime(TimeZoneInfo.ConvertTime(from, _zone).DateTime).AddDays(-1);
        var lastDay = DateOnly.FromDateTime(TimeZoneInfo.ConvertTime(to, _zone).DateTime).AddDays(1);
        for (; day <= lastDay; day = day.AddDays(1))
        {
            if (!_weekly.TryGetValue(WeeklyHours.Days[((int)day.DayOfWeek + 6) % 7], out var ranges))
                continue;
            foreach (var range in ranges.OrderBy(r => WeeklyHours.Minutes(r.Open)))
            {
                var start = ToInstant(day, WeeklyHours.Minutes(range.Open)!.Value);
                var end = ToInstant(day, WeeklyHours.Minutes(range.Close)!.Value);
                if (end > from && start < to)
                    yield return (start, end);
            }
        }
    }

    private DateTimeOffset ToInstant(DateOnly day, int minutes)
    {
        var local = day.ToDateTime(TimeOnly.MinValue).AddMinutes(minutes);
        // A local time skipped by a daylight-saving jump is taken as the first valid minute after it.
        while (_zone.IsInvalidTime(local))
            local = local.AddMinutes(1);
        return new DateTimeOffset(TimeZoneInfo.ConvertTimeToUtc(DateTime.SpecifyKind(local, DateTimeKind.Unspecified), _zone), TimeSpan.Zero);
    }
}
