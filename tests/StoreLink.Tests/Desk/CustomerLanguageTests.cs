using System.Globalization;
using StoreLink.Tests.Infrastructure;
using static StoreLink.Tests.Desk.DeskScene;

namespace StoreLink.Tests.Desk;

/// <summary>What the desk writes to a customer itself comes in the customer's language: Simplified Chinese unless they asked for English.</summary>
public sealed class CustomerLanguageTests
{
    public static TheoryData<string> Databases => TestDatabases.Both;

    private static List<string?> SystemTexts(IEnumerable<System.Text.Json.JsonElement> messages) =>
        messages.Where(m => m.GetProperty("kind").GetString() == "system").Select(TextOf).ToList();

    [Theory, MemberData(nameof(Databases))]
    public async Task An_english_customer_reads_the_out_of_hours_reply_the_assignment_and_the_rating_card_in_english(string db)
    {
        await using var scene = await DeskScene.CreateAsync(db);
        await scene.OpenDailyAsync("09:00", "18:00");
        var english = await scene.CustomerAsync();
        var chinese = await scene.CustomerAsync();
        var set = await english.Http.PutJsonAsync("/v1/me/language", new { language = "en-GB" });
        Assert.Equal((200, "en"), (set.Status, set.Str("language")));
        var refused = await english.Http.PutJsonAsync("/v1/me/language", new { language = "fr" });
        Assert.Equal((400, "invalid_request"), (refused.Status, refused.Code));
        Assert.Equal(403, (await scene.Manager.PutJsonAsync("/v1/me/language", new { language = "en" })).Status);

        // 20:00 on a day the store opens at 09:00 (Shanghai).
        scene.App.Clock.AdvanceToLocal(new TimeOnly(20, 0));
        var opening = TimeZoneInfo.ConvertTime(scene.App.Clock.GetUtcNow(), TimeZoneInfo.FindSystemTimeZoneById("Asia/Shanghai")).Date.AddDays(1);
        await english.SendAsync("Hello, my phone does not charge");
        await chinese.SendAsync("你好，手机充不进电");
        var day = opening.ToString("ddd d MMM", CultureInfo.GetCultureInfo("en-US"));
        Assert.Equal([$"We are closed right now. We open at 09:00 on {day} and will answer your message first thing."],
            SystemTexts(await english.MessagesAsync()));
        Assert.Equal([$"现在是非营业时间，我们将于 {opening.Month}月{opening.Day}日 09:00 开门，届时会第一时间回复您的留言。"], SystemTexts(await chinese.MessagesAsync()));

        scene.App.Clock.AdvanceToLocal(new TimeOnly(9, 0));
        await scene.SignInAgainAsync();
        var first = await scene.AgentAsync("Amy");
        var second = await scene.AgentAsync("Ben");
        var servedBy = await english.AssignedAsync();
        Assert.Contains(servedBy == first.Id ? "Amy is here to help you." : "Ben is here to help you.", SystemTexts(await english.MessagesAsync()));
        var (from, to) = servedBy == first.Id ? (first, second) : (second, first);
        Assert.Contains($"客服 {(await chinese.AssignedAsync() == first.Id ? "Amy" : "Ben")} 为您服务。", SystemTexts(await chinese.MessagesAsync()));

        // A transfer tells the customer who serves them now; the note for the colleague stays among staff.
        Assert.Equal(200, (await from.Http.PostJsonAsync($"/v1/desk/conversations/{english.ConversationId}/transfer", new { agent_id = to.Id, note = "换电池" })).Status);
        Assert.Equal($"{to.Name} is here to help you.", SystemTexts(await english.MessagesAsync()).Last());
        Assert.Equal(200, (await to.Http.PostJsonAsync($"/v1/conversations/{english.ConversationId}/resolve")).Status);
        var card = (await english.MessagesAsync()).Last();
        Assert.Equal(("Please rate our service", "Served by", to.Name), (card.GetProperty("body").GetProperty("title").GetString(),
            card.GetProperty("body").GetProperty("fields")[0].GetProperty("label").GetString(), card.GetProperty("body").GetProperty("fields")[0].GetProperty("value").GetString()));
        Assert.Equal(200, (await english.Http.PostJsonAsync($"/v1/conversations/{english.ConversationId}/csat", new { rating = 5 })).Status);
        Assert.Equal("Thank you for your rating!", SystemTexts(await english.MessagesAsync()).Last());
    }
}
