using StoreLink.Protocol;
using StoreLink.Server.Desk;

namespace StoreLink.Tests.Desk;

/// <summary>Business-hours arithmetic: pure logic, tested directly.</summary>
public sealed class BusinessClockTests
{
    // Mon–Fri 09:00–12:00 and 13:00–18:00, Sat 10:00–14:00, Sunday closed; Shanghai (UTC+8, no DST).
    private static readonly BusinessClock Shop = new(new Dictionary<string, IReadOnlyList<HoursRange>>
    {
        ["mon"] = [new("09:00", "12:00"), new("13:00", "18:00")], ["tue"] = [new("09:00", "12:00"), new("13:00", "18:00")],
        ["wed"] = [new("09:00", "12:00"), new("13:00", "18:00")], ["thu"] = [new("09:00", "12:00"), new("13:00", "18:00")],
        ["fri"] = [new("09:00", "12:00"), new("13:00", "18:00")], ["sat"] = [new("10:00", "14:00")],
    }, "Asia/Shanghai");

    private static DateTimeOffset Local(string text) => DateTimeOffset.Parse(text + "+08:00");

    [Theory]
    [InlineData("2026-11-23T09:00", true)]   // Monday opening
    [InlineData("2026-11-23T08:59", false)]
    [InlineData("2026-11-23T12:30", false)]  // lunch
    [InlineData("2026-11-23T17:59", true)]
    [InlineData("2026-11-23T18:00", false)]
    [InlineData("2026-11-28T11:00", true)]   // Saturday
    [InlineData("2026-11-29T11:00", false)]  // Sunday
    public void Open_or_not(string at, bool open) => Assert.Equal(open, Shop.IsOpen(Local(at)));

    [Theory]
    [InlineData("2026-11-23T10:00", "2026-11-23T10:00")] // open now
    [InlineData("2026-11-23T12:15", "2026-11-23T13:00")] // after lunch
    [InlineData("2026-11-23T21:00", "2026-11-24T09:00")] // tomorrow morning
    [InlineData("2026-11-28T15:00", "2026-11-30T09:00")] // Saturday afternoon → Monday
    public void Next_opening(string at, string next) => Assert.Equal(Local(next), Shop.NextOpening(Local(at)));

    [Fact]
    public void Elapsed_business_time_skips_nights_lunches_and_sundays()
    {
        Assert.Equal(TimeSpan.FromMinutes(30), Shop.Elapsed(Local("2026-11-23T11:45"), Local("2026-11-23T13:15")));
        Assert.Equal(TimeSpan.FromHours(1), Shop.Elapsed(Local("2026-11-23T17:30"), Local("2026-11-24T09:30")));
        Assert.Equal(TimeSpan.FromHours(2), Shop.Elapsed(Local("2026-11-28T13:00"), Local("2026-11-30T10:00")));
        Assert.Equal(TimeSpan.Zero, Shop.Elapsed(Local("2026-11-29T08:00"), Local("2026-11-29T20:00")));
        Assert.Equal(TimeSpan.Zero, Shop.Elapsed(Local("2026-11-24T10:00"), Local("2026-11-23T10:00")));
    }

    [Fact]
    public void Adding_business_time_gives_due_times()
    {
        Assert.Equal(Local("2026-11-23T13:30"), Shop.Add(Local("2026-11-23T11:30"), TimeSpan.FromHours(1)));
        Assert.Equal(Local("2026-11-24T09:15"), Shop.Add(Local("2026-11-23T17:45"), TimeSpan.FromMinutes(30)));
        Assert.Equal(Local("2026-11-30T09:30"), Shop.Add(Local("2026-11-28T20:00"), TimeSpan.FromMinutes(30)));
        Assert.Equal(Local("2026-11-23T09:00"), Shop.Add(Local("2026-11-23T07:00"), TimeSpan.Zero));
    }

    [Fact]
    public void Hours_until_midnight_and_a_zone_with_daylight_saving()
    {
        var late = new BusinessClock(new Dictionary<string, IReadOnlyList<HoursRange>> { ["fri"] = [new("20:00", "24:00")], ["sat"] = [new("00:00", "02:00")] }, "Asia/Shanghai");
        Assert.Equal(TimeSpan.FromHours(6), late.Elapsed(Local("2026-11-27T19:00"), Local("2026-11-28T03:00")));

        // Berlin leaves summer time on 2026-10-25 at 03:00 → 02:00: that Sunday 00:00–06:00 lasts seven hours.
        var berlin = new BusinessClock(new Dictionary<string, IReadOnlyList<HoursRange>> { ["sun"] = [new("00:00", "06:00")] }, "Europe/Berlin");
        Assert.Equal(TimeSpan.FromHours(7), berlin.Elapsed(DateTimeOffset.Parse("2026-10-24T00:00Z"), DateTimeOffset.Parse("2026-10-26T00:00Z")));
        var closed = new BusinessClock(new Dictionary<string, IReadOnlyList<HoursRange>>(), "Asia/Shanghai");
        Assert.Null(closed.NextOpening(Local("2026-11-23T10:00")));
        Assert.False(closed.IsOpen(Local("2026-11-23T10:00")));
    }
}
