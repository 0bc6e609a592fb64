using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using StoreLink.Server.Workflows;
using StoreLink.Tests.Infrastructure;
using static StoreLink.Tests.Workflows.WorkflowTests;

namespace StoreLink.Tests.Workflows;

/// <summary>
/// What the workflows write to a customer — work item cards, a quote with its buttons, the answer to a tap, appointment
/// cards and reminders — is in the customer's language: English for one who chose it, Simplified Chinese otherwise.
/// </summary>
public sealed class CardLanguageTests
{
    public static TheoryData<string> Databases => TestDatabases.Both;

    private static readonly TimeZoneInfo Shanghai = TimeZoneInfo.FindSystemTimeZoneById("Asia/Shanghai");

    [Theory, MemberData(nameof(Databases))]
    public async Task An_english_customer_reads_the_work_item_card_the_quote_and_its_buttons_in_english_a_chinese_one_in_chinese(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db);
        app.Clock.AdvanceToLocal(new TimeOnly(10, 0));
        var agent = await app.LoginAsync("agent.digital@demo.local");
        var tech = await app.LoginAsync("tech.digital@demo.local");
        var store = await StoreIdAsync(agent, "demo-digital");
        var (english, englishConversation) = await CustomerAsync(app, "C1002", "demo-digital");
        Assert.Equal(200, (await english.PutJsonAsync("/v1/me/language", new { language = "en" })).Status);
        var (chinese, chineseConversation) = await CustomerAsync(app, "C1001", "demo-digital");

        async Task<string> TicketAsync(HttpClient customer, string conversationId, string title)
        {
            var created = await agent.PostJsonAsync("/v1/work-items", new
            {
                store_id = store, kind = "ticket", customer_id = (await customer.GetJsonAsync("/v1/me")).Str("id"), title, conversation_id = conversationId,
            });
            Assert.Equal(201, created.Status);
            return created.Str("id");
        }

        var englishItem = await TicketAsync(english, englishConversation, "iPhone 16 Pro screen");
        var chineseItem = await TicketAsync(chinese, chineseConversation, "iPhone 16 Pro 屏幕");

        // The state card: labels, the customer-facing state and the next step from the template's en labels.
        var received = await CardAsync(english, englishConversation, englishItem, "Received");
        Assert.Equal(("Status", "Item", "iPhone 16 Pro screen"), (Label(received, 0), Label(received, 1), Value(received, 1)));
        Assert.Contains("In charge", Labels(received));
        Assert.Equal("Bring or send the device to the store; we will inspect it as soon as it arrives.", Field(received, "Next step"));
        var zhReceived = await CardAsync(chinese, chineseConversation, chineseItem, "已受理");
        Assert.Equal(("状态", "事项", "iPhone 16 Pro 屏幕"), (Label(zhReceived, 0), Label(zhReceived, 1), Value(zhReceived, 1)));
        Assert.Contains("负责人", Labels(zhReceived));
        Assert.Equal("请将设备送到门店或寄到门店，我们收到后会尽快检测。", Field(zhReceived, "下一步"));

        // The quote: one card with the request and its two buttons.
        foreach (var (item, title) in new[] { (englishItem, "Original screen"), (chineseItem, "更换原装屏幕") })
        {
            Assert.Equal(200, (await tech.PostJsonAsync($"/v1/work-items/{item}/transition", new { to = "inspecting" })).Status);
            Assert.Equal(200, (await tech.PostJsonAsync($"/v1/work-items/{item}/transition", new { to = "awaiting_approval", request = new { title, price = "899" } })).Status);
        }
        var quote = await CardAsync(english, englishConversation, englishItem, "Waiting for your approval");
        Assert.Equal("Original screen ¥899", Field(quote, "Awaiting your approval"));
        Assert.Equal("Please review the quote; we start the repair once you approve.", Field(quote, "Next step"));
        var requestId = quote.GetProperty("actions")[0].GetProperty("id").GetString()!.Split(':')[1];
        Assert.Equal([$"approve:{requestId}:Approve: Original screen", $"decline:{requestId}:No, thanks"], Actions(quote));
        var zhQuote = await CardAsync(chinese, chineseConversation, chineseItem, "待您确认报价");
        Assert.Equal("更换原装屏幕 ¥899", Field(zhQuote, "待您确认"));
        var chineseRequest = zhQuote.GetProperty("actions")[0].GetProperty("id").GetString()!.Split(':')[1];
        Assert.Equal([$"approve:{chineseRequest}:同意更换原装屏幕", $"decline:{chineseRequest}:暂不需要"], Actions(zhQuote));

        // The customer's own view of the item offers the same, in the same language; staff read the default one.
        var view = await english.GetJsonAsync($"/v1/work-items/{englishItem}");
        Assert.Equal("Waiting for your approval", view.Str("customer_state_label"));
        Assert.Equal(["Approve: Original screen", "No, thanks"], view.Json.GetProperty("customer_actions").EnumerateArray().Select(a => a.GetProperty("label").GetString()));
        Assert.Equal("待您确认报价", (await agent.GetJsonAsync($"/v1/work-items/{englishItem}")).Str("customer_state_label"));
        var zhView = await chinese.GetJsonAsync($"/v1/work-items/{chineseItem}");
        Assert.Equal(["同意更换原装屏幕", "暂不需要"], zhView.Json.GetProperty("customer_actions").EnumerateArray().Select(a => a.GetProperty("label").GetString()));

        // The answer to the tap, and the next card.
        Assert.Equal("repairing", (await english.PostJsonAsync($"/v1/work-items/{englishItem}/actions", new { action = $"approve:{requestId}", note = "Please hurry" })).Str("state"));
        Assert.Equal(200, (await chinese.PostJsonAsync($"/v1/work-items/{chineseItem}/actions", new { action = $"decline:{chineseRequest}" })).Status);
        Assert.Contains("You approved Original screen ¥899. Your note: Please hurry", SystemTexts(await Messages(english, englishConversation)));
        Assert.Contains("已拒绝「更换原装屏幕 ¥899」", SystemTexts(await Messages(chinese, chineseConversation)));
        var repairing = await CardAsync(english, englishConversation, englishItem, "Repairing");
        Assert.Equal("We will tell you when it is ready or on its way back.", Field(repairing, "Next step"));
        Assert.Empty(repairing.GetProperty("actions").EnumerateArray());
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task An_english_customer_reads_appointment_cards_and_reminders_in_english_a_chinese_one_in_chinese(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db);
        app.Clock.AdvanceToLocal(new TimeOnly(9, 0));
        var notifier = app.Services.GetRequiredService<Notifier>();
        var (english, englishConversation) = await CustomerAsync(app, "C1002", "demo-shoes");
        Assert.Equal(200, (await english.PutJsonAsync("/v1/me/language", new { language = "en-US" })).Status);
        var (chinese, chineseConversation) = await CustomerAsync(app, "C1003", "demo-shoes");
        var tomorrow = DateOnly.FromDateTime(TimeZoneInfo.ConvertTime(app.Clock.GetUtcNow(), Shanghai).DateTime).AddDays(1);
        var slots = (await english.GetJsonAsync($"/v1/appointment-slots?store_key=demo-shoes&from={tomorrow:yyyy-MM-dd}&to={tomorrow:yyyy-MM-dd}&service=shoe_deep_clean"))
            .Json.GetProperty("slots").EnumerateArray().Select(s => (Starts: s.GetProperty("starts_at").GetDateTimeOffset(), Ends: s.GetProperty("ends_at").GetDateTimeOffset())).ToList();
        Assert.True(slots.Count >= 2);
        var (first, second) = (slots[0], slots[1]);

        async Task<string> BookAsync(HttpClient customer)
        {
            var booked = await customer.PostJsonAsync("/v1/appointments", new { store_key = "demo-shoes", service = "shoe_deep_clean", starts_at = first.Starts });
            Assert.Equal(201, booked.Status);
            return booked.Str("id");
        }

        var englishId = await BookAsync(english);
        var chineseId = await BookAsync(chinese);

        static string English((DateTimeOffset Starts, DateTimeOffset Ends) slot) =>
            $"{TimeZoneInfo.ConvertTime(slot.Starts, Shanghai).ToString("ddd d MMM HH:mm", CultureInfo.GetCultureInfo("en-US"))}–{TimeZoneInfo.ConvertTime(slot.Ends, Shanghai):HH:mm}";
        static string Chinese((DateTimeOffset Starts, DateTimeOffset Ends) slot)
        {
            var start = TimeZoneInfo.ConvertTime(slot.Starts, Shanghai);
            return $"{start.Month}月{start.Day}日 周{"日一二三四五六"[(int)start.DayOfWeek]} {start:HH:mm}–{TimeZoneInfo.ConvertTime(slot.Ends, Shanghai):HH:mm}";
        }

        var booked = await AppointmentCardAsync(english, englishConversation, englishId, c => Field(c, "Status") == "Booked");
        Assert.Equal("Appointment · Deep shoe cleaning", booked.GetProperty("title").GetString());
        Assert.Equal(["Status", "Time", "Store", "Served by"], Labels(booked));
        Assert.Equal(English(first), Field(booked, "Time"));
        Assert.Equal(["reschedule:Reschedule", "cancel:Cancel appointment"], Actions(booked));
        var zhBooked = await AppointmentCardAsync(chinese, chineseConversation, chineseId, c => Field(c, "状态") == "已预约");
        Assert.Equal("预约 · 鞋履深度清洁", zhBooked.GetProperty("title").GetString());
        Assert.Equal(["状态", "时间", "门店", "服务人员"], Labels(zhBooked));
        Assert.Equal(Chinese(first), Field(zhBooked, "时间"));
        Assert.Equal(["reschedule:改约", "cancel:取消预约"], Actions(zhBooked));
        Assert.Equal(Field(booked, "Store"), Field(zhBooked, "门店")); // the store's name is the store's

        // The reminder the evening before (19:00).
        app.Clock.Advance(new DateTimeOffset(tomorrow.AddDays(-1).ToDateTime(new TimeOnly(19, 1)), TimeSpan.FromHours(8)) - app.Clock.GetUtcNow());
        await notifier.DeliverDueAsync(default);
        var reminder = await AppointmentCardAsync(english, englishConversation, englishId, c => c.GetProperty("title").GetString() == "Appointment reminder · Deep shoe cleaning");
        Assert.Equal(("Booked", "Please arrive on time; to reschedule or cancel, tap a button below."), (Field(reminder, "Status"), Field(reminder, "Reminder")));
        var zhReminder = await AppointmentCardAsync(chinese, chineseConversation, chineseId, c => c.GetProperty("title").GetString() == "预约提醒 · 鞋履深度清洁");
        Assert.Equal(("已预约", "请按时到店；如需改约或取消，请点击下方按钮。"), (Field(zhReminder, "状态"), Field(zhReminder, "提醒")));

        // Moved, then cancelled with a reason.
        foreach (var (customer, id) in new[] { (english, englishId), (chinese, chineseId) })
            Assert.Equal(200, (await customer.PostJsonAsync($"/v1/appointments/{id}/move", new { starts_at = second.Starts })).Status);
        var moved = await AppointmentCardAsync(english, englishConversation, englishId, c => Field(c, "Status") == "Rescheduled");
        Assert.Equal((English(second), English(first)), (Field(moved, "Time"), Field(moved, "Previously")));
        var zhMoved = await AppointmentCardAsync(chinese, chineseConversation, chineseId, c => Field(c, "状态") == "已改约");
        Assert.Equal((Chinese(second), Chinese(first)), (Field(zhMoved, "时间"), Field(zhMoved, "原时间")));
        Assert.Equal(200, (await english.PostJsonAsync($"/v1/appointments/{englishId}/cancel", new { reason = "Something came up" })).Status);
        Assert.Equal(200, (await chinese.PostJsonAsync($"/v1/appointments/{chineseId}/cancel", new { reason = "临时有事" })).Status);
        var cancelled = await AppointmentCardAsync(english, englishConversation, englishId, c => Field(c, "Status") == "Cancelled");
        Assert.Equal("Something came up", Field(cancelled, "Reason"));
        Assert.Empty(cancelled.GetProperty("actions").EnumerateArray());
        var zhCancelled = await AppointmentCardAsync(chinese, chineseConversation, chineseId, c => Field(c, "状态") == "已取消");
        Assert.Equal("临时有事", Field(zhCancelled, "取消原因"));
    }

    private static string? Label(JsonElement card, int i) => card.GetProperty("fields")[i].GetProperty("label").GetString();

    [Theory, MemberData(nameof(Databases))]
    public async Task A_shipped_order_refuses_a_new_address_in_the_customers_language_with_the_state_in_it_too(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db);
        app.Clock.AdvanceToLocal(new TimeOnly(10, 0));
        var agent = await app.LoginAsync("agent.bags@demo.local");
        var store = await StoreIdAsync(agent, "demo-bags");
        var (english, _) = await CustomerAsync(app, "C1002", "demo-bags");
        Assert.Equal(200, (await english.PutJsonAsync("/v1/me/language", new { language = "en" })).Status);
        var (chinese, _) = await CustomerAsync(app, "C1001", "demo-bags");

        foreach (var (customer, refusal) in new[] { (chinese, "地址已无法修改：订单已发货。"), (english, "The address can no longer be changed: the order is Shipped.") })
        {
            var created = await agent.PostJsonAsync("/v1/work-items", new
            {
                store_id = store, kind = "order", customer_id = (await customer.GetJsonAsync("/v1/me")).Str("id"), title = "商务双肩包 × 20",
                fields = new { address = "上海市黄浦区南京东路 1 号" },
            });
            Assert.Equal(201, created.Status);
            foreach (var to in new[] { "paid", "picking", "shipped" })
                Assert.Equal(200, (await agent.PostJsonAsync($"/v1/work-items/{created.Str("id")}/transition", new { to })).Status);
            var refused = await customer.PostJsonAsync($"/v1/work-items/{created.Str("id")}/actions", new { action = "change_address", address = "北京市朝阳区建国路 1 号" });
            Assert.Equal((409, "conflict", refusal), (refused.Status, refused.Code, refused.Json.GetProperty("title").GetString()));
        }
    }

    private static string? Value(JsonElement card, int i) => card.GetProperty("fields")[i].GetProperty("value").GetString();

    private static List<string?> Labels(JsonElement card) => card.GetProperty("fields").EnumerateArray().Select(f => f.GetProperty("label").GetString()).ToList();

    private static string? Field(JsonElement card, string label) =>
        card.GetProperty("fields").EnumerateArray().Where(f => f.GetProperty("label").GetString() == label).Select(f => f.GetProperty("value").GetString()).FirstOrDefault();

    private static List<string> Actions(JsonElement card) =>
        card.GetProperty("actions").EnumerateArray().Select(a => $"{a.GetProperty("id").GetString()}:{a.GetProperty("label").GetString()}").ToList();

    private static List<string?> SystemTexts(IEnumerable<JsonElement> messages) =>
        messages.Where(m => m.GetProperty("kind").GetString() == "system").Select(m => m.GetProperty("body").GetProperty("text").GetString()).ToList();

    /// <summary>Waits (cards are delivered after the change commits) for a card of the appointment that matches.</summary>
    private static async Task<JsonElement> AppointmentCardAsync(HttpClient customer, string conversationId, string appointmentId, Func<JsonElement, bool> match)
    {
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (true)
        {
            var card = (await Messages(customer, conversationId)).Where(m => m.GetProperty("kind").GetString() == "card"
                    && m.GetProperty("body").GetProperty("ref").GetProperty("type").GetString() == "appointment"
                    && m.GetProperty("body").GetProperty("ref").GetProperty("id").GetString() == appointmentId)
                .Select(m => m.GetProperty("body")).LastOrDefault(match);
            if (card.ValueKind == JsonValueKind.Object)
                return card;
            Assert.True(DateTime.UtcNow < deadline, "No such card of the appointment.");
            await Task.Delay(50);
        }
    }
}
