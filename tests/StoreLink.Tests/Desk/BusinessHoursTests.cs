using System.Text.Json;
using StoreLink.Tests.Infrastructure;
using static StoreLink.Tests.Desk.DeskScene;

namespace StoreLink.Tests.Desk;

/// <summary>Opening hours in the store's time zone: the out-of-hours reply, the night's backlog, and SLA clocks that stop at night.</summary>
public sealed class BusinessHoursTests
{
    public static TheoryData<string> Databases => TestDatabases.Both;

    private static readonly TimeZoneInfo Shanghai = TimeZoneInfo.FindSystemTimeZoneById("Asia/Shanghai");

    private static DateTimeOffset LocalNow(StoreLinkApp app) => TimeZoneInfo.ConvertTime(app.Clock.GetUtcNow(), Shanghai);

    /// <summary>Today's (or a later day's) local time in Shanghai as an instant.</summary>
    private static DateTimeOffset At(StoreLinkApp app, int days, int hour, int minute) =>
        new(LocalNow(app).Date.AddDays(days).AddHours(hour).AddMinutes(minute), TimeSpan.FromHours(8));

    [Theory, MemberData(nameof(Databases))]
    public async Task Out_of_hours_the_customer_is_told_when_the_store_opens_and_the_first_agent_in_the_morning_gets_the_night_s_messages(string db)
    {
        await using var scene = await DeskScene.CreateAsync(db);
        await scene.OpenDailyAsync("09:00", "18:00");
        var evening = await scene.AgentAsync("晚班客服", connect: false);
        scene.App.Clock.AdvanceToLocal(new TimeOnly(20, 0));
        var opening = At(scene.App, 1, 9, 0);
        await evening.ConnectAsync(); // online, but the store is closed

        var customer = await scene.CustomerAsync();
        await customer.SendAsync("晚上好，手机充不进电");
        var replies = (await customer.MessagesAsync()).Where(m => m.GetProperty("kind").GetString() == "system").ToList();
        Assert.Contains($"{opening.Month}月{opening.Day}日 09:00", TextOf(Assert.Single(replies)));
        var position = await customer.PositionAsync(1);
        Assert.Equal(opening, position.GetProperty("opens_at").GetDateTimeOffset());
        // Nobody answers before the opening: the estimate counts from there.
        Assert.True(position.GetProperty("estimated_wait_seconds").GetInt64() >= (opening - scene.App.Clock.GetUtcNow()).TotalSeconds,
            position.ToString());
        Assert.Null(await scene.AssigneeAsync(customer.ConversationId));
        var profile = await scene.App.Anonymous().GetJsonAsync($"/v1/stores/by-key/{Store}/profile");
        Assert.Equal((false, opening), (profile.Json.GetProperty("open_now").GetBoolean(), profile.Json.GetProperty("opens_at").GetDateTimeOffset()));

        // More words in the night: no second auto reply.
        scene.App.Clock.Advance(TimeSpan.FromMinutes(30));
        await customer.SendAsync("屏幕也有划痕");
        Assert.Single(await customer.MessagesAsync(), m => m.GetProperty("kind").GetString() == "system");
        await evening.DisconnectAsync();

        // The morning: the first agent to come online gets the conversation with everything left in the night.
        scene.App.Clock.AdvanceToLocal(new TimeOnly(9, 0));
        await scene.SignInAgainAsync();
        var morning = await scene.AgentAsync("早班客服");
        Assert.Equal(morning.Id, await customer.AssignedAsync());
        var history = (await morning.Http.GetJsonAsync($"/v1/conversations/{customer.ConversationId}/messages?after_seq=0")).Json.EnumerateArray()
            .Where(m => m.GetProperty("sender").GetProperty("kind").GetString() == "customer").Select(TextOf);
        Assert.Equal(["晚上好，手机充不进电", "屏幕也有划痕"], history);
        Assert.Equal(201, (await morning.SendAsync(customer.ConversationId, "早上好，请问手机型号是？")).Status);
        Assert.True((await scene.App.Anonymous().GetJsonAsync($"/v1/stores/by-key/{Store}/profile")).Json.GetProperty("open_now").GetBoolean());
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task Sla_clocks_count_business_time_only_and_tell_when_a_target_was_missed(string db)
    {
        await using var scene = await DeskScene.CreateAsync(db);
        await scene.OpenDailyAsync("09:00", "18:00", new { sla_first_response_minutes = 5, sla_resolution_minutes = 60 });
        scene.App.Clock.AdvanceToLocal(new TimeOnly(17, 58));
        var late = await scene.CustomerAsync();
        await late.SendAsync("快下班了还在吗");

        scene.App.Clock.AdvanceToLocal(new TimeOnly(9, 1));
        await scene.SignInAgainAsync();
        var agent = await scene.AgentAsync("早班客服");
        Assert.Equal(agent.Id, await late.AssignedAsync());
        var early = await scene.CustomerAsync();
        await early.SendAsync("九点零一分的问题");

        async Task<JsonElement> SlaAsync(DeskScene.Customer customer, string state = "active") =>
            (await agent.Http.GetJsonAsync($"/v1/desk/inbox?store_id={scene.StoreId}&state={state}")).Json.EnumerateArray()
                .Single(i => i.GetProperty("conversation").GetProperty("id").GetString() == customer.ConversationId).GetProperty("sla");
        var tolerance = TimeSpan.FromSeconds(30);

        // Two minutes before closing and one after opening: three business minutes, within the five of the target.
        var waiting = await SlaAsync(late);
        Assert.Equal(At(scene.App, 0, 9, 3), waiting.GetProperty("first_response_due_at").GetDateTimeOffset(), tolerance);
        Assert.InRange(waiting.GetProperty("first_response_business_seconds").GetInt64(), 180, 210);
        Assert.False(waiting.GetProperty("first_response_breached").GetBoolean());
        Assert.Equal(At(scene.App, 0, 9, 58), waiting.GetProperty("resolution_due_at").GetDateTimeOffset(), tolerance);
        Assert.Equal(201, (await agent.SendAsync(late.ConversationId, "早上好，在的")).Status);

        // Two hours on: the late customer was answered in time but not resolved in time; the early one waited too long.
        scene.App.Clock.Advance(TimeSpan.FromHours(2));
        Assert.Equal(201, (await agent.SendAsync(early.ConversationId, "抱歉久等")).Status);
        Assert.Equal(200, (await agent.Http.PostJsonAsync($"/v1/conversations/{late.ConversationId}/resolve")).Status);
        scene.App.Clock.Advance(TimeSpan.FromHours(1));
        var resolved = await SlaAsync(late, "resolved");
        Assert.False(resolved.GetProperty("first_response_breached").GetBoolean());
        Assert.InRange(resolved.GetProperty("first_response_business_seconds").GetInt64(), 180, 210);
        Assert.True(resolved.GetProperty("resolution_breached").GetBoolean());
        Assert.InRange(resolved.GetProperty("resolution_business_seconds").GetInt64(), 2 * 3600 + 180, 2 * 3600 + 210); // stopped at the resolution
        var answeredLate = await SlaAsync(early);
        Assert.True(answeredLate.GetProperty("first_response_breached").GetBoolean());
        Assert.InRange(answeredLate.GetProperty("first_response_business_seconds").GetInt64(), 7200, 7230);
        Assert.True(answeredLate.GetProperty("resolution_breached").GetBoolean()); // due at 10:01, still open at 12:01
    }
}
