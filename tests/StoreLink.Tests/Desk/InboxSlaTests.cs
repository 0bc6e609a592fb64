using System.Text.Json;
using StoreLink.Tests.Infrastructure;

namespace StoreLink.Tests.Desk;

/// <summary>The SLA clocks of the inbox as the console reads them: when the first answer came and how much business time ran.</summary>
public sealed class InboxSlaTests
{
    public static TheoryData<string> Databases => TestDatabases.Both;

    [Theory, MemberData(nameof(Databases))]
    public async Task The_inbox_tells_when_staff_first_answered_and_counts_business_seconds_to_resolution(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db);
        var visitor = await app.VisitorAsync("demo-digital");
        var conversation = (await visitor.PostJsonAsync("/v1/conversations", new { store_key = "demo-digital" })).Str("id");
        // The test clock also runs on real time: every figure is bounded by what the clock read around the calls, so a
        // slow machine widens the window instead of breaking the test.
        var asked = app.Clock.GetUtcNow();
        await visitor.PostJsonAsync($"/v1/conversations/{conversation}/messages", new { client_msg_id = "c1", kind = "text", body = new { text = "在吗" } });
        var agent = await app.LoginAsync("agent.digital@demo.local");
        var store = (await agent.GetJsonAsync("/v1/stores")).Json.EnumerateArray().Single(s => s.GetProperty("store_key").GetString() == "demo-digital").GetProperty("id").GetString();

        async Task<JsonElement> SlaAsync() =>
            (await agent.GetJsonAsync($"/v1/desk/inbox?store_id={store}&view=all&state=active")).Json.EnumerateArray()
                .Single(i => i.GetProperty("conversation").GetProperty("id").GetString() == conversation).GetProperty("sla");
        long SecondsSinceAsked() => (long)Math.Ceiling((app.Clock.GetUtcNow() - asked).TotalSeconds) + 1;

        app.Clock.Advance(TimeSpan.FromMinutes(2));
        var waiting = await SlaAsync();
        var waited = SecondsSinceAsked();
        Assert.False(waiting.TryGetProperty("first_response_at", out _));
        Assert.InRange(waiting.GetProperty("first_response_business_seconds").GetInt64(), 119, waited);
        Assert.InRange(waiting.GetProperty("resolution_business_seconds").GetInt64(), 119, waited);
        Assert.False(waiting.GetProperty("first_response_breached").GetBoolean());

        var beforeAnswer = app.Clock.GetUtcNow();
        await agent.PostJsonAsync($"/v1/conversations/{conversation}/messages", new { client_msg_id = "a1", kind = "text", body = new { text = "在的" } });
        var afterAnswer = app.Clock.GetUtcNow();
        var answeredWithin = SecondsSinceAsked();
        app.Clock.Advance(TimeSpan.FromMinutes(10));
        var answered = await SlaAsync();
        Assert.InRange(answered.GetProperty("first_response_at").GetDateTimeOffset(), beforeAnswer.AddSeconds(-1), afterAnswer.AddSeconds(1));
        Assert.InRange(answered.GetProperty("first_response_business_seconds").GetInt64(), 119, answeredWithin);
        Assert.InRange(answered.GetProperty("resolution_business_seconds").GetInt64(), 719, SecondsSinceAsked());
        Assert.False(answered.GetProperty("first_response_breached").GetBoolean());
    }
}
