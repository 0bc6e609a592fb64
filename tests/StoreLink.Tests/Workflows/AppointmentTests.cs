using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using StoreLink.Server.Accounts;
using StoreLink.Server.Workflows;
using StoreLink.Tests.Infrastructure;

namespace StoreLink.Tests.Workflows;

/// <summary>Appointments through the API on both databases: schedule and slots, booking from the chat and by staff, the race for the last place, reminders.</summary>
public sealed class AppointmentTests
{
    public static TheoryData<string> Databases => TestDatabases.Both;

    private static readonly TimeZoneInfo Shanghai = TimeZoneInfo.FindSystemTimeZoneById("Asia/Shanghai");
    private static readonly string[] Days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

    [Theory, MemberData(nameof(Databases))]
    public async Task A_manager_keeps_the_schedule_as_data_and_slots_list_their_remaining_places(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db);
        app.Clock.AdvanceToLocal(new TimeOnly(8, 0));
        var shoes = await Shoes.OpenAsync(app);
        var today = Today(app);
        var tomorrow = today.AddDays(1);

        // Only managers and org admins write it; a technician of another store does not even see the store.
        var schedule = shoes.Schedule(agentDays: [Day(tomorrow)], closed: tomorrow.AddDays(1));
        Assert.Equal((403, "forbidden"), await StatusAsync(shoes.Agent.PutJsonAsync($"/v1/stores/{shoes.StoreId}/appointment-schedule", schedule)));
        Assert.Equal((404, "not_found"), await StatusAsync((await app.LoginAsync("tech.digital@demo.local")).PutJsonAsync($"/v1/stores/{shoes.StoreId}/appointment-schedule", schedule)));
        var demo = await shoes.Agent.GetJsonAsync($"/v1/stores/{shoes.StoreId}/appointment-schedule");
        Assert.Equal((1, "Asia/Shanghai"), (demo.Json.GetProperty("version").GetInt32(), demo.Str("time_zone")));
        Assert.Equal(["shoe_deep_clean", "color_repair"], demo.Json.GetProperty("definition").GetProperty("services").EnumerateArray().Select(s => s.GetProperty("key").GetString()));
        var digitalTech = (await (await app.LoginAsync("tech.digital@demo.local")).GetJsonAsync("/v1/me")).Str("id");
        var invalid = await shoes.Admin.PutJsonAsync($"/v1/stores/{shoes.StoreId}/appointment-schedule", new
        {
            slot_minutes = 2, services = Array.Empty<object>(),
            technicians = new object[] { new { staff_id = digitalTech, per_slot = 0 } },
            reminders = new object[] { new { before_minutes = 60, day_before_at = "19:00" } },
        });
        Assert.Equal((400, "invalid_request"), (invalid.Status, invalid.Code));
        var errors = invalid.Json.GetProperty("errors");
        foreach (var path in new[] { "slot_minutes", "services", "technicians[0].staff_id", "technicians[0].per_slot", "reminders[0]" })
            Assert.True(errors.TryGetProperty(path, out _), $"no error at {path}: {invalid.Body}");

        var saved = await shoes.Admin.PutJsonAsync($"/v1/stores/{shoes.StoreId}/appointment-schedule", schedule);
        Assert.Equal((200, 2), (saved.Status, saved.Json.GetProperty("version").GetInt32()));
        Assert.Equal(3, (await shoes.Admin.PutJsonAsync($"/v1/stores/{shoes.StoreId}/appointment-schedule", schedule)).Json.GetProperty("version").GetInt32());
        Assert.Equal(60, (await shoes.Agent.GetJsonAsync($"/v1/stores/{shoes.StoreId}/appointment-schedule")).Json.GetProperty("definition").GetProperty("slot_minutes").GetInt32());

        // Tomorrow: 10–12 and 14–18 in hours of 60 minutes; the technician takes 2 a slot, the agent 1 (deep cleaning only, tomorrow only).
        var (customer, _) = await CustomerAsync(app, "C1003");
        var slots = await SlotsAsync(customer, tomorrow, tomorrow, "shoe_deep_clean");
        Assert.Equal(["10:00", "11:00", "14:00", "15:00", "16:00", "17:00"], slots.Select(s => s.GetProperty("time").GetString()));
        Assert.All(slots, s => Assert.Equal((3, 3), (s.GetProperty("capacity").GetInt32(), s.GetProperty("remaining").GetInt32())));
        Assert.False(slots[0].TryGetProperty("technicians", out _)); // who works when is the store's business
        Assert.Equal(Local(tomorrow, 10), slots[0].GetProperty("starts_at").GetDateTimeOffset());
        Assert.Equal(Local(tomorrow, 11), slots[0].GetProperty("ends_at").GetDateTimeOffset());
        Assert.All(await SlotsAsync(customer, tomorrow, tomorrow, "color_repair"), s => Assert.Equal(2, s.GetProperty("capacity").GetInt32()));
        // The day after is closed by a dated exception; the next day the agent does not work.
        Assert.Empty(await SlotsAsync(customer, tomorrow.AddDays(1), tomorrow.AddDays(1), "shoe_deep_clean"));
        Assert.All(await SlotsAsync(customer, tomorrow.AddDays(2), tomorrow.AddDays(2), "shoe_deep_clean"), s => Assert.Equal(2, s.GetProperty("capacity").GetInt32()));
        // Today at 08:00 with 3 hours' notice: the customer's first slot is 14:00; staff may still book 10:00.
        Assert.Equal("14:00", (await SlotsAsync(customer, today, today, null))[0].GetProperty("time").GetString());
        var staffSlots = await SlotsAsync(shoes.Agent, today, today, null, shoes.StoreId);
        Assert.Equal("10:00", staffSlots[0].GetProperty("time").GetString());
        var technician = Assert.Single(staffSlots[0].GetProperty("technicians").EnumerateArray()); // the agent takes appointments tomorrow only
        Assert.Equal(("鞋履养护师傅", 2, 0), (technician.GetProperty("name").GetString(), technician.GetProperty("per_slot").GetInt32(), technician.GetProperty("booked").GetInt32()));
        // Booking is open 14 days ahead.
        Assert.Empty(await SlotsAsync(customer, today.AddDays(15), today.AddDays(16), null));

        var list = await customer.GetJsonAsync($"/v1/appointment-slots?store_key=demo-shoes&from={tomorrow:yyyy-MM-dd}&to={tomorrow:yyyy-MM-dd}");
        Assert.Equal(["shoe_deep_clean", "color_repair"], list.Json.GetProperty("services").EnumerateArray().Select(s => s.GetProperty("key").GetString()));
        Assert.Equal("Asia/Shanghai", list.Str("time_zone"));
        Assert.Equal((400, "invalid_request"), await StatusAsync(customer.GetJsonAsync("/v1/appointment-slots?store_key=demo-shoes&from=tomorrow")));
        Assert.Equal((400, "invalid_request"), await StatusAsync(customer.GetJsonAsync("/v1/appointment-slots?store_key=demo-shoes&service=manicure")));
        Assert.Equal((400, "invalid_request"), await StatusAsync(customer.GetJsonAsync($"/v1/appointment-slots?store_key=demo-shoes&from={today:yyyy-MM-dd}&to={today.AddDays(40):yyyy-MM-dd}")));
        var franchise = await app.VisitorAsync("demo-franchise");
        Assert.Equal((404, "not_found"), await StatusAsync(franchise.GetJsonAsync("/v1/appointment-slots?store_key=demo-shoes")));
        // A staff member who no longer works takes no appointments.
        Assert.Equal(200, (await shoes.Admin.PatchJsonAsync($"/v1/staff/{shoes.AgentId}", new { disabled = true })).Status);
        Assert.All(await SlotsAsync(customer, tomorrow, tomorrow, "shoe_deep_clean"), s => Assert.Equal(2, s.GetProperty("capacity").GetInt32()));

        // The demo's electronics store takes drop-offs with its technician and its agent, every 30 minutes of its opening hours.
        var digital = (await customer.GetJsonAsync($"/v1/appointment-slots?store_key=demo-digital&service=device_drop_off&from={tomorrow:yyyy-MM-dd}&to={tomorrow:yyyy-MM-dd}")).Json;
        Assert.Equal(("数码送修", 30), (digital.GetProperty("services")[0].GetProperty("label").GetString(), digital.GetProperty("slot_minutes").GetInt32()));
        Assert.All(digital.GetProperty("slots").EnumerateArray(), s => Assert.Equal(2, s.GetProperty("capacity").GetInt32()));
        Assert.True(digital.GetProperty("slots").GetArrayLength() >= 20);
        // A store without a schedule offers nothing, and booking there is refused plainly.
        var bags = await customer.GetJsonAsync("/v1/appointment-slots?store_key=demo-bags");
        Assert.Empty(bags.Json.GetProperty("slots").EnumerateArray());
        Assert.Equal((409, "conflict"), await StatusAsync(customer.PostJsonAsync("/v1/appointments",
            new { store_key = "demo-bags", service = "x", starts_at = Local(tomorrow, 10) })));
        // Dates far away are refused by name, not added to until they overflow.
        foreach (var (query, field) in new[] { ("from=9999-12-28", "from"), ("from=9999-12-31&to=9999-12-31", "from"), ("from=0001-01-01", "from"),
                     ($"from={today:yyyy-MM-dd}&to=9999-12-31", "to") })
        {
            var far = await customer.GetJsonAsync($"/v1/appointment-slots?store_key=demo-shoes&{query}");
            Assert.True(far.Status == 400 && far.Code == "invalid_request" && far.Json.GetProperty("errors").TryGetProperty(field, out _), $"{query}: {far}");
        }
        foreach (var startsAt in new[] { "9999-12-31T23:59:59+00:00", "0001-01-01T00:00:00+00:00" })
            Assert.True((await customer.PostJsonAsync("/v1/appointments", new { store_key = "demo-shoes", service = "shoe_deep_clean", starts_at = startsAt })).Status is >= 400 and < 500, startsAt);
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task A_key_answers_only_for_the_appointment_and_action_it_was_used_with(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db);
        app.Clock.AdvanceToLocal(new TimeOnly(9, 0));
        var shoes = await Shoes.OpenAsync(app);
        var tomorrow = Today(app).AddDays(1);
        await shoes.SaveAsync(shoes.Schedule(agentDays: []));
        var (customer, _) = await CustomerAsync(app, "C1003");
        var a = await customer.PostJsonAsync("/v1/appointments", new { store_key = "demo-shoes", service = "shoe_deep_clean", starts_at = Local(tomorrow, 10), idempotency_key = "book-a" });
        var b = await customer.PostJsonAsync("/v1/appointments", new { store_key = "demo-shoes", service = "shoe_deep_clean", starts_at = Local(tomorrow, 11), idempotency_key = "book-b" });
        Assert.Equal((201, 201), (a.Status, b.Status));
        Assert.Equal(200, (await customer.PostJsonAsync($"/v1/appointments/{a.Str("id")}/move", new { starts_at = Local(tomorrow, 14), action_id = "move-a" })).Status);

        // Another appointment, another action: refused, nothing changes.
        Assert.Equal((422, "unprocessable"), await StatusAsync(customer.PostJsonAsync($"/v1/appointments/{b.Str("id")}/move", new { starts_at = Local(tomorrow, 15), action_id = "move-a" })));
        Assert.Equal((422, "unprocessable"), await StatusAsync(customer.PostJsonAsync($"/v1/appointments/{b.Str("id")}/cancel", new { action_id = "move-a" })));
        Assert.Equal((422, "unprocessable"), await StatusAsync(customer.PostJsonAsync($"/v1/appointments/{a.Str("id")}/move", new { starts_at = Local(tomorrow, 15), action_id = "book-a" })));
        Assert.Equal((422, "unprocessable"), await StatusAsync(customer.PostJsonAsync("/v1/appointments",
            new { store_key = "demo-shoes", service = "shoe_deep_clean", starts_at = Local(tomorrow, 16), idempotency_key = "move-a" })));
        var unchanged = await customer.GetJsonAsync($"/v1/appointments/{b.Str("id")}");
        Assert.Equal((Local(tomorrow, 11), "booked"), (unchanged.Json.GetProperty("starts_at").GetDateTimeOffset(), unchanged.Str("status")));
        // The same key for the same thing is still the double tap it was.
        var again = await customer.PostJsonAsync($"/v1/appointments/{a.Str("id")}/move", new { starts_at = Local(tomorrow, 14), action_id = "move-a" });
        Assert.Equal((200, Local(tomorrow, 14)), (again.Status, again.Json.GetProperty("starts_at").GetDateTimeOffset()));
        Assert.Equal(200, (await customer.PostJsonAsync("/v1/appointments", new { store_key = "demo-shoes", service = "shoe_deep_clean", starts_at = Local(tomorrow, 10), idempotency_key = "book-b" })).Status);
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task The_customer_books_moves_and_cancels_from_the_chat_each_change_a_card_and_a_double_tap_does_one_thing(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db);
        app.Clock.AdvanceToLocal(new TimeOnly(9, 0));
        var shoes = await Shoes.OpenAsync(app);
        var tomorrow = Today(app).AddDays(1);
        await shoes.SaveAsync(shoes.Schedule(agentDays: []));
        var (customer, conversationId) = await CustomerAsync(app, "C1003");
        var customerId = (await customer.GetJsonAsync("/v1/me")).Str("id");
        var job = (await shoes.Agent.PostJsonAsync("/v1/work-items", new { store_id = shoes.StoreId, kind = "care_job", customer_id = customerId, title = "白色运动鞋深度清洁" }));
        Assert.Equal(201, job.Status);

        // A double tap: the same key, concurrently and again later, books once.
        var book = new { store_key = "demo-shoes", service = "shoe_deep_clean", starts_at = Local(tomorrow, 10), work_item_id = job.Str("id"), note = "鞋面有油渍", idempotency_key = "tap-1" };
        var taps = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => customer.PostJsonAsync("/v1/appointments", book)));
        Assert.Equal(1, taps.Count(t => t.Status == 201));
        Assert.All(taps, t => Assert.True(t.Status is 200 or 201, t.ToString()));
        var id = Assert.Single(taps.Select(t => t.Str("id")).Distinct());
        var again = await customer.PostJsonAsync("/v1/appointments", book with { idempotency_key = "tap-2" });
        Assert.Equal((200, id), (again.Status, again.Str("id"))); // one appointment per customer and slot
        var booked = taps.Single(t => t.Status == 201);
        Assert.Equal(("booked", "鞋履深度清洁", job.Str("number")), (booked.Str("status"), booked.Str("service_label"), booked.Str("work_item_number")));
        Assert.Equal(["reschedule", "cancel"], booked.Json.GetProperty("actions").EnumerateArray().Select(a => a.GetString()));
        Assert.Equal(1, (await SlotsAsync(customer, tomorrow, tomorrow, "shoe_deep_clean"))[0].GetProperty("remaining").GetInt32());

        var card = await CardAsync(customer, conversationId, id, "已预约");
        Assert.Equal("预约 · 鞋履深度清洁", card.GetProperty("title").GetString());
        Assert.Equal(Field(card, "时间"), $"{tomorrow.Month}月{tomorrow.Day}日 周{"日一二三四五六"[(int)tomorrow.DayOfWeek]} 10:00–11:00");
        Assert.Equal(("鞋履护理店", "鞋履养护师傅", job.Str("number")), (Field(card, "门店"), Field(card, "服务人员"), Field(card, "工单")));
        Assert.Equal(["reschedule:改约", "cancel:取消预约"], card.GetProperty("actions").EnumerateArray().Select(a => $"{a.GetProperty("id").GetString()}:{a.GetProperty("label").GetString()}"));

        // Only the appointment's own customer: anyone else is told it does not exist.
        var stranger = await app.VisitorAsync("demo-shoes");
        Assert.Equal((404, "not_found"), await StatusAsync(stranger.GetJsonAsync($"/v1/appointments/{id}")));
        Assert.Equal((404, "not_found"), await StatusAsync(stranger.PostJsonAsync($"/v1/appointments/{id}/move", new { starts_at = Local(tomorrow, 14) })));
        Assert.Equal((404, "not_found"), await StatusAsync(stranger.PostJsonAsync($"/v1/appointments/{id}/cancel", new { })));
        Assert.Equal((404, "not_found"), await StatusAsync(stranger.PostJsonAsync("/v1/appointments", book with { idempotency_key = "tap-3" })));
        Assert.Empty((await stranger.GetJsonAsync("/v1/appointments")).Json.EnumerateArray());
        Assert.Equal((404, "not_found"), await StatusAsync((await app.LoginAsync("agent.digital@demo.local")).GetJsonAsync($"/v1/appointments/{id}")));

        // Moving: twice at once to the same slot moves once.
        var moves = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => customer.PostJsonAsync($"/v1/appointments/{id}/move", new { starts_at = Local(tomorrow, 14) })));
        Assert.All(moves, m => Assert.Equal((200, "booked"), (m.Status, m.Str("status"))));
        Assert.Equal(Local(tomorrow, 14), moves[0].Json.GetProperty("starts_at").GetDateTimeOffset());
        var movedCard = await CardAsync(customer, conversationId, id, "已改约");
        Assert.Equal($"{tomorrow.Month}月{tomorrow.Day}日 周{"日一二三四五六"[(int)tomorrow.DayOfWeek]} 10:00–11:00", Field(movedCard, "原时间"));
        Assert.Equal((400, "invalid_request"), await StatusAsync(customer.PostJsonAsync($"/v1/appointments/{id}/move", new { starts_at = Local(tomorrow, 14).AddMinutes(10) })));
        Assert.Equal((400, "invalid_request"), await StatusAsync(customer.PostJsonAsync($"/v1/appointments/{id}/move", new { })));

        var cancels = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => customer.PostJsonAsync($"/v1/appointments/{id}/cancel", new { reason = "临时有事" })));
        Assert.All(cancels, c => Assert.Equal((200, "cancelled"), (c.Status, c.Str("status"))));
        Assert.Empty(cancels[0].Json.GetProperty("actions").EnumerateArray());
        var cancelledCard = await CardAsync(customer, conversationId, id, "已取消");
        Assert.Empty(cancelledCard.GetProperty("actions").EnumerateArray());
        Assert.Equal("临时有事", Field(cancelledCard, "取消原因"));
        var late = await customer.PostJsonAsync($"/v1/appointments/{id}/move", new { starts_at = Local(tomorrow, 15) });
        Assert.Equal((409, "conflict"), (late.Status, late.Code));
        Assert.Contains("已取消", late.Json.GetProperty("title").GetString());
        Assert.Equal(2, (await SlotsAsync(customer, tomorrow, tomorrow, "shoe_deep_clean")).Single(s => s.GetProperty("time").GetString() == "14:00").GetProperty("remaining").GetInt32());

        // Recorded: who did what, when; one entry per change, however many taps.
        var events = (await shoes.Agent.GetJsonAsync($"/v1/appointments/{id}/events")).Json.EnumerateArray().ToList();
        Assert.Equal(["booked", "moved", "cancelled"], events.Select(e => e.GetProperty("kind").GetString()));
        Assert.All(events, e => Assert.Equal((customerId, "customer"), (e.GetProperty("actor").GetProperty("id").GetString(), e.GetProperty("actor").GetProperty("kind").GetString())));
        Assert.Equal(3, (await CardsAsync(customer, conversationId, id)).Count);

        // A booking linked to someone else's work item is refused as if it did not exist.
        var other = await app.VisitorAsync("demo-shoes");
        Assert.Equal((404, "not_found"), await StatusAsync(other.PostJsonAsync("/v1/appointments",
            new { store_key = "demo-shoes", service = "shoe_deep_clean", starts_at = Local(tomorrow, 10), work_item_id = job.Str("id") })));

        // Within the store's cut-off (2 hours) the customer can no longer move online; the card stops offering it.
        var soon = await customer.PostJsonAsync("/v1/appointments", new { store_key = "demo-shoes", service = "shoe_deep_clean", starts_at = Local(tomorrow, 11) });
        Assert.Equal(201, soon.Status);
        app.Clock.Advance(Local(tomorrow, 9, 30) - app.Clock.GetUtcNow());
        Assert.Equal(["cancel"], (await customer.GetJsonAsync($"/v1/appointments/{soon.Str("id")}")).Json.GetProperty("actions").EnumerateArray().Select(a => a.GetString()));
        var tooLate = await customer.PostJsonAsync($"/v1/appointments/{soon.Str("id")}/move", new { starts_at = Local(tomorrow, 16) });
        Assert.Equal((409, "conflict"), (tooLate.Status, tooLate.Code));
        Assert.Equal(200, (await customer.PostJsonAsync($"/v1/appointments/{soon.Str("id")}/cancel", new { })).Status);
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task Staff_book_move_and_cancel_for_a_customer_and_the_customer_sees_each_change_in_the_chat(string db)
    {
        await using var app = await StoreLinkApp.CreateOnKestrelAsync(db);
        app.Clock.AdvanceToLocal(new TimeOnly(9, 0));
        var shoes = await Shoes.OpenAsync(app);
        var tomorrow = Today(app).AddDays(1);
        await shoes.SaveAsync(shoes.Schedule(agentDays: []));
        var (customer, conversationId) = await CustomerAsync(app, "C1003");
        var customerId = (await customer.GetJsonAsync("/v1/me")).Str("id");
        await using var techSocket = await app.ConnectAsync(StoreLinkApp.TokenOf(shoes.Tech));

        var made = await shoes.Agent.PostJsonAsync("/v1/appointments", new
        {
            store_id = shoes.StoreId, customer_id = customerId, service = "color_repair", starts_at = Local(tomorrow, 10), technician_id = shoes.TechId,
            idempotency_key = "desk-1",
        });
        Assert.Equal(201, made.Status);
        var id = made.Str("id");
        Assert.Equal((shoes.TechId, "鞋履养护师傅"), (made.Str("technician_id"), made.Str("technician_name")));
        Assert.Equal(id, (await shoes.Agent.PostJsonAsync("/v1/appointments", new
        {
            store_id = shoes.StoreId, customer_id = customerId, service = "color_repair", starts_at = Local(tomorrow, 10), idempotency_key = "desk-1",
        })).Str("id"));
        var pushed = await techSocket.NextAsync(f => f.GetProperty("type").GetString() == "appointment");
        Assert.Equal((id, "booked"), (pushed.GetProperty("appointment").GetProperty("id").GetString(), pushed.GetProperty("event").GetProperty("kind").GetString()));
        await CardAsync(customer, conversationId, id, "已预约");
        Assert.Single((await customer.GetJsonAsync("/v1/appointments")).Json.EnumerateArray());

        Assert.Equal((400, "invalid_request"), await StatusAsync(shoes.Agent.PostJsonAsync("/v1/appointments",
            new { store_id = shoes.StoreId, customer_id = customerId, service = "color_repair", starts_at = Local(tomorrow, 11), technician_id = shoes.AgentId })));
        Assert.Equal((404, "not_found"), await StatusAsync(shoes.Agent.PostJsonAsync("/v1/appointments",
            new { store_id = shoes.StoreId, customer_id = "cus_nobody", service = "color_repair", starts_at = Local(tomorrow, 11) })));

        var moved = await shoes.Agent.PostJsonAsync($"/v1/appointments/{id}/move", new { starts_at = Local(tomorrow, 15) });
        Assert.Equal((200, 2), (moved.Status, moved.Json.GetProperty("version").GetInt32()));
        await CardAsync(customer, conversationId, id, "已改约");
        var cancelled = await shoes.Agent.PostJsonAsync($"/v1/appointments/{id}/cancel", new { reason = "师傅临时外出" });
        Assert.Equal("cancelled", cancelled.Str("status"));
        Assert.Equal("师傅临时外出", Field(await CardAsync(customer, conversationId, id, "已取消"), "取消原因"));
        var events = (await customer.GetJsonAsync($"/v1/appointments/{id}/events")).Json.EnumerateArray().ToList();
        Assert.Equal([("booked", "staff"), ("moved", "staff"), ("cancelled", "staff")],
            events.Select(e => (e.GetProperty("kind").GetString(), e.GetProperty("actor").GetProperty("kind").GetString())));

        // The day's list for the technician, and closing an appointment once the customer came.
        var second = await shoes.Agent.PostJsonAsync("/v1/appointments", new { store_id = shoes.StoreId, customer_id = customerId, service = "shoe_deep_clean", starts_at = Local(tomorrow, 10) });
        var mine = await shoes.Tech.GetJsonAsync($"/v1/appointments?technician_id=me&status=booked&from={Local(tomorrow, 0):O}&to={Local(tomorrow.AddDays(1), 0):O}".Replace("+", "%2B"));
        Assert.Equal([second.Str("id")], mine.Json.EnumerateArray().Select(a => a.GetProperty("id").GetString()));
        var third = await customer.PostJsonAsync("/v1/appointments", new { store_key = "demo-shoes", service = "color_repair", starts_at = Local(tomorrow, 11) });
        Assert.Equal(201, third.Status);
        var twice = await shoes.Agent.PostJsonAsync($"/v1/appointments/{third.Str("id")}/move", new { starts_at = Local(tomorrow, 10) });
        Assert.Equal((409, "conflict"), (twice.Status, twice.Code)); // one appointment per customer and slot
        Assert.Equal((403, "forbidden"), await StatusAsync(customer.PostJsonAsync($"/v1/appointments/{second.Str("id")}/status", new { status = "completed" })));
        Assert.Equal("completed", (await shoes.Tech.PostJsonAsync($"/v1/appointments/{second.Str("id")}/status", new { status = "completed" })).Str("status"));
        Assert.Equal((409, "conflict"), await StatusAsync(customer.PostJsonAsync($"/v1/appointments/{second.Str("id")}/cancel", new { })));
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task In_quiet_hours_staff_changes_wait_for_the_morning_merged_unless_the_slot_is_too_close_and_the_customer_is_answered_at_once(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db);
        app.Clock.AdvanceToLocal(new TimeOnly(22, 0)); // the demo stores' quiet hours: 21:00–08:30
        var shoes = await Shoes.OpenAsync(app);
        var tomorrow = Today(app).AddDays(1);
        await shoes.SaveAsync(new
        {
            slot_minutes = 60, services = new[] { Service("shoe_deep_clean", "鞋履深度清洁") }, weekly = new Dictionary<string, object[]>(),
            dates = new Dictionary<string, object>
            {
                [$"{tomorrow:yyyy-MM-dd}"] = new { hours = new[] { new { open = "09:00", close = "12:00" } }, technicians = new[] { new { staff_id = shoes.TechId, per_slot = 3 } } },
            },
            reminders = Array.Empty<object>(),
        });
        var (customer, conversationId) = await CustomerAsync(app, "C1003");
        var customerId = (await customer.GetJsonAsync("/v1/me")).Str("id");
        var notifier = app.Services.GetRequiredService<Notifier>();
        async Task<string> StaffBookAsync(int hour) => (await shoes.Agent.PostJsonAsync("/v1/appointments",
            new { store_id = shoes.StoreId, customer_id = customerId, service = "shoe_deep_clean", starts_at = Local(tomorrow, hour) })).Str("id");

        // 09:00 is too close to wait for 08:30: the customer hears now.
        var early = await StaffBookAsync(9);
        await CardAsync(customer, conversationId, early, "已预约");
        // 10:00 can wait: booked and then moved during the night, one card in the morning with the latest state.
        var later = await StaffBookAsync(10);
        Assert.Equal(200, (await shoes.Agent.PostJsonAsync($"/v1/appointments/{later}/move", new { starts_at = Local(tomorrow, 11) })).Status);
        await notifier.DeliverDueAsync(default);
        Assert.Empty(await CardsAsync(customer, conversationId, later));
        // What the customer does is answered at once.
        var own = await customer.PostJsonAsync("/v1/appointments", new { store_key = "demo-shoes", service = "shoe_deep_clean", starts_at = Local(tomorrow, 10) });
        Assert.Equal(201, own.Status);
        await CardAsync(customer, conversationId, own.Str("id"), "已预约");

        app.Clock.Advance(Local(tomorrow, 8, 31) - app.Clock.GetUtcNow());
        await notifier.DeliverDueAsync(default);
        await notifier.DeliverDueAsync(default);
        var card = Assert.Single(await CardsAsync(customer, conversationId, later));
        Assert.Equal("已改约", Field(card, "状态"));
        Assert.StartsWith($"{tomorrow.Month}月{tomorrow.Day}日", Field(card, "时间"));
        Assert.EndsWith("11:00–12:00", Field(card, "时间"));
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task Concurrent_bookings_never_take_more_places_than_a_slot_has(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db);
        app.Clock.AdvanceToLocal(new TimeOnly(9, 0));
        var shoes = await Shoes.OpenAsync(app);
        var tomorrow = Today(app).AddDays(1);
        // 10:00 has one place (the technician alone); 14:00 three (the technician takes 2, the agent 1).
        await shoes.SaveAsync(new
        {
            slot_minutes = 60, services = new[] { Service("shoe_deep_clean", "鞋履深度清洁") },
            dates = new Dictionary<string, object>
            {
                [$"{tomorrow:yyyy-MM-dd}"] = new { hours = new[] { new { open = "10:00", close = "11:00" } }, technicians = new[] { new { staff_id = shoes.TechId, per_slot = 1 } } },
                [$"{tomorrow.AddDays(1):yyyy-MM-dd}"] = new
                {
                    hours = new[] { new { open = "14:00", close = "15:00" } },
                    technicians = new object[] { new { staff_id = shoes.TechId, per_slot = 2 }, new { staff_id = shoes.AgentId, per_slot = 1 } },
                },
            },
            weekly = new Dictionary<string, object[]>(),
        });
        var customers = await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => app.VisitorAsync("demo-shoes")));
        var ids = new Dictionary<string, HttpClient>();
        foreach (var c in customers)
            ids[(await c.GetJsonAsync("/v1/me")).Str("id")] = c;

        foreach (var (start, capacity) in new[] { (Local(tomorrow, 10), 1), (Local(tomorrow.AddDays(1), 14), 3) })
        {
            using var go = new SemaphoreSlim(0);
            var requests = customers.Select(async c =>
            {
                await go.WaitAsync();
                return await c.PostJsonAsync("/v1/appointments", new { store_key = "demo-shoes", service = "shoe_deep_clean", starts_at = start });
            }).ToList();
            go.Release(customers.Length);
            var answers = await Task.WhenAll(requests);
            Assert.Equal(capacity, answers.Count(a => a.Status == 201));
            var refused = answers.Where(a => a.Status != 201).ToList();
            Assert.All(refused, a => Assert.Equal((409, "conflict"), (a.Status, a.Code)));
            Assert.All(refused, a => Assert.Equal("该时段已约满，请选择其他时段。", a.Json.GetProperty("title").GetString()));
            var day = DateOnly.FromDateTime(TimeZoneInfo.ConvertTime(start, Shanghai).DateTime);
            var slot = Assert.Single(await SlotsAsync(shoes.Agent, day, day, null, shoes.StoreId));
            Assert.Equal((capacity, 0), (slot.GetProperty("capacity").GetInt32(), slot.GetProperty("remaining").GetInt32()));
            Assert.Equal(capacity, slot.GetProperty("technicians").EnumerateArray().Sum(t => t.GetProperty("booked").GetInt32()));
        }
        var all = (await shoes.Agent.GetJsonAsync($"/v1/appointments?store_id={shoes.StoreId}&status=booked")).Json.EnumerateArray().ToList();
        Assert.Equal(4, all.Count);

        // A cancellation frees the place for the next customer.
        var first = all.First(a => a.GetProperty("starts_at").GetDateTimeOffset() == Local(tomorrow, 10));
        var holder = ids[first.GetProperty("customer_id").GetString()!];
        Assert.Equal(200, (await holder.PostJsonAsync($"/v1/appointments/{first.GetProperty("id").GetString()}/cancel", new { })).Status);
        var next = customers.First(c => c != holder);
        Assert.Equal(201, (await next.PostJsonAsync("/v1/appointments", new { store_key = "demo-shoes", service = "shoe_deep_clean", starts_at = Local(tomorrow, 10) })).Status);
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task Reminders_go_before_the_slot_outside_quiet_hours_survive_a_restart_and_never_for_a_cancelled_or_moved_appointment(string db)
    {
        var database = await TestDatabases.CreateAsync(db);
        string kept, movedId, cancelledId, conversationId;
        DateOnly day;
        DateTimeOffset booking;
        await using (var first = new StoreLinkApp(database, keepDatabase: true))
        {
            first.Start();
            first.Clock.AdvanceToLocal(new TimeOnly(9, 0));
            booking = first.Clock.GetUtcNow();
            var shoes = await Shoes.OpenAsync(first);
            day = Today(first).AddDays(1);
            // The evening before at 19:00 and two hours before; quiet hours are 21:00–08:30.
            await shoes.SaveAsync(shoes.Schedule(agentDays: []));
            var (customer, conversation) = await CustomerAsync(first, "C1003");
            conversationId = conversation;
            async Task<string> BookAsync(int hour) =>
                (await customer.PostJsonAsync("/v1/appointments", new { store_key = "demo-shoes", service = "shoe_deep_clean", starts_at = Local(day, hour) })).Str("id");
            kept = await BookAsync(10);
            movedId = await BookAsync(11);
            cancelledId = await BookAsync(16);
            Assert.Equal(200, (await customer.PostJsonAsync($"/v1/appointments/{movedId}/move", new { starts_at = Local(day, 15) })).Status);
            Assert.Equal(200, (await customer.PostJsonAsync($"/v1/appointments/{cancelledId}/cancel", new { })).Status);
        }

        // The server restarts; the reminders are rows in the database.
        await using var app = new StoreLinkApp(database);
        app.Start();
        app.Clock.Advance(booking - app.Clock.GetUtcNow());
        var notifier = app.Services.GetRequiredService<Notifier>();
        var (again, _) = await CustomerAsync(app, "C1003");

        async Task<List<(string Id, DateTimeOffset At)>> RemindersAsync()
        {
            await notifier.DeliverDueAsync(default);
            return (await MessagesAsync(again, conversationId)).Where(m => m.GetProperty("kind").GetString() == "card"
                    && m.GetProperty("body").GetProperty("title").GetString()!.StartsWith("预约提醒"))
                .Select(m => (m.GetProperty("body").GetProperty("ref").GetProperty("id").GetString()!, m.GetProperty("created_at").GetDateTimeOffset())).ToList();
        }

        app.Clock.Advance(Local(day.AddDays(-1), 18, 59) - app.Clock.GetUtcNow());
        Assert.Empty(await RemindersAsync());
        app.Clock.Advance(TimeSpan.FromMinutes(2));
        Assert.Equal([kept, movedId], (await RemindersAsync()).Select(r => r.Id).Order());

        // Two hours before 10:00 is 08:00, inside quiet hours: it waits for 08:30, still before the slot.
        app.Clock.Advance(Local(day, 8, 15) - app.Clock.GetUtcNow());
        Assert.Equal(2, (await RemindersAsync()).Count);
        app.Clock.Advance(Local(day, 8, 31) - app.Clock.GetUtcNow());
        var morning = await RemindersAsync();
        Assert.Equal([kept, kept, movedId], morning.Select(r => r.Id).Order());
        var card = (await CardsAsync(again, conversationId, kept)).Last();
        Assert.Equal(("预约提醒 · 鞋履深度清洁", "已预约"), (card.GetProperty("title").GetString(), Field(card, "状态")));
        Assert.Equal(["cancel"], card.GetProperty("actions").EnumerateArray().Select(a => a.GetProperty("id").GetString())); // inside the 2-hour cut-off

        // 13:00 for the appointment moved to 15:00; nothing for its old 11:00 slot (09:00) or for the cancelled one.
        app.Clock.Advance(Local(day, 13, 1) - app.Clock.GetUtcNow());
        var all = await RemindersAsync();
        Assert.Equal([kept, kept, movedId, movedId], all.Select(r => r.Id).Order());
        Assert.DoesNotContain(all, r => r.Id == cancelledId);
        app.Clock.Advance(TimeSpan.FromHours(6));
        Assert.Equal(4, (await RemindersAsync()).Count);
    }

    [Fact]
    public void A_reminder_due_in_quiet_hours_goes_at_their_end_or_else_just_before_they_begin()
    {
        var store = new StoreRow { Id = "st", TimeZone = "Asia/Shanghai", QuietStart = "21:00", QuietEnd = "08:30", BusinessHours = "{}" };
        ScheduleDefinition Rules(params ReminderRule[] rules) => new(60, null, null, null, null, null, null, null, [.. rules]);
        var day = new DateOnly(2026, 12, 2);
        var now = Local(day.AddDays(-3), 12);
        // Two hours before a 10:00 slot is 08:00, quiet: it goes at 08:30. Before an 08:00 slot, 06:00 would wait past
        // the slot, so it goes the evening before, a minute before quiet hours begin.
        Assert.Equal([Local(day, 8, 30)], AppointmentSchedule.ReminderTimes(Rules(new ReminderRule(120, null)), store, Local(day, 10), now));
        Assert.Equal([Local(day.AddDays(-1), 20, 59)], AppointmentSchedule.ReminderTimes(Rules(new ReminderRule(120, null)), store, Local(day, 8), now));
        Assert.Equal([Local(day.AddDays(-1), 19), Local(day, 8, 30)], AppointmentSchedule.ReminderTimes(Rules(new ReminderRule(null, "19:00"), new ReminderRule(120, null)), store, Local(day, 10), now));
        // Two rules that land on the same moment remind once.
        Assert.Equal([Local(day, 8, 30)], AppointmentSchedule.ReminderTimes(Rules(new ReminderRule(null, "22:00"), new ReminderRule(120, null)), store, Local(day, 10), now));
        // Booked late in the evening for the next morning: only what is still ahead and before the slot.
        Assert.Equal([Local(day, 8, 30)], AppointmentSchedule.ReminderTimes(Rules(new ReminderRule(null, "19:00"), new ReminderRule(120, null)), store, Local(day, 10), Local(day.AddDays(-1), 23)));
        Assert.Empty(AppointmentSchedule.ReminderTimes(Rules(new ReminderRule(null, "19:00"), new ReminderRule(120, null)), store, Local(day, 8, 30), Local(day.AddDays(-1), 23)));
        // No quiet hours: exactly as the rules say.
        var open = new StoreRow { Id = "st", TimeZone = "Asia/Shanghai", BusinessHours = "{}" };
        Assert.Equal([Local(day, 6)], AppointmentSchedule.ReminderTimes(Rules(new ReminderRule(120, null)), open, Local(day, 8), now));
    }

    /// <summary>The shoe-care store of the demo and its people.</summary>
    private sealed record Shoes(HttpClient Admin, HttpClient Agent, HttpClient Tech, string StoreId, string TechId, string AgentId)
    {
        public static async Task<Shoes> OpenAsync(StoreLinkApp app)
        {
            var admin = await app.LoginAsync("admin@demo.local");
            var agent = await app.LoginAsync("agent.shoes@demo.local");
            var tech = await app.LoginAsync("tech.shoes@demo.local");
            var store = (await agent.GetJsonAsync("/v1/stores")).Json.EnumerateArray().Single(s => s.GetProperty("store_key").GetString() == "demo-shoes").GetProperty("id").GetString()!;
            return new Shoes(admin, agent, tech, store, (await tech.GetJsonAsync("/v1/me")).Str("id"), (await agent.GetJsonAsync("/v1/me")).Str("id"));
        }

        /// <summary>Hours of 60 minutes, 10–12 and 14–18 every day; the technician takes 2 a slot, the agent 1 (deep cleaning, on <paramref name="agentDays"/>).</summary>
        public object Schedule(string[] agentDays, DateOnly? closed = null) => new
        {
            slot_minutes = 60,
            services = new[] { Service("shoe_deep_clean", "鞋履深度清洁"), Service("color_repair", "补色") },
            weekly = Days.ToDictionary(d => d, _ => new[] { new { open = "10:00", close = "12:00" }, new { open = "14:00", close = "18:00" } }),
            technicians = new object[]
            {
                new { staff_id = TechId, per_slot = 2 },
                new { staff_id = AgentId, per_slot = 1, days = agentDays, services = new[] { "shoe_deep_clean" } },
            },
            dates = closed is { } c ? new Dictionary<string, object> { [$"{c:yyyy-MM-dd}"] = new { hours = Array.Empty<object>() } } : null,
            min_notice_minutes = 180,
            book_days_ahead = 14,
            change_cutoff_minutes = 120,
            reminders = new object[] { new { day_before_at = "19:00" }, new { before_minutes = 120 } },
        };

        public async Task SaveAsync(object schedule)
        {
            var saved = await Admin.PutJsonAsync($"/v1/stores/{StoreId}/appointment-schedule", schedule);
            Assert.True(saved.Status == 200, saved.ToString());
        }
    }

    private static object Service(string key, string zh) => new { key, label = new Dictionary<string, string> { ["zh-CN"] = zh } };

    private static string Day(DateOnly date) => Days[((int)date.DayOfWeek + 6) % 7];

    private static DateOnly Today(StoreLinkApp app) => DateOnly.FromDateTime(TimeZoneInfo.ConvertTime(app.Clock.GetUtcNow(), Shanghai).DateTime);

    private static DateTimeOffset Local(DateOnly date, int hour, int minute = 0) =>
        new(date.ToDateTime(new TimeOnly(hour, minute)), TimeSpan.FromHours(8));

    private static async Task<List<JsonElement>> SlotsAsync(HttpClient client, DateOnly from, DateOnly to, string? service, string? storeId = null)
    {
        var store = storeId is null ? "store_key=demo-shoes" : $"store_id={storeId}";
        var answer = await client.GetJsonAsync($"/v1/appointment-slots?{store}&from={from:yyyy-MM-dd}&to={to:yyyy-MM-dd}" + (service is null ? "" : $"&service={service}"));
        Assert.True(answer.Status == 200, answer.ToString());
        return answer.Json.GetProperty("slots").EnumerateArray().ToList();
    }

    private static async Task<(HttpClient Customer, string ConversationId)> CustomerAsync(StoreLinkApp app, string sub)
    {
        var token = Jwt.Sign(new { sub, exp = TestClock.Now.AddYears(1).ToUnixTimeSeconds() }, DemoSeed.RetailIdentitySecret);
        var auth = await app.Anonymous().PostJsonAsync("/v1/auth/customer", new { store_key = "demo-shoes", identity_token = token });
        Assert.Equal(200, auth.Status);
        var customer = app.WithToken(auth.Json.GetProperty("access_token").GetString()!);
        var opened = await customer.PostJsonAsync("/v1/conversations", new { store_key = "demo-shoes" });
        return (customer, opened.Str("id"));
    }

    private static string? Field(JsonElement card, string label) =>
        card.GetProperty("fields").EnumerateArray().Where(f => f.GetProperty("label").GetString() == label).Select(f => f.GetProperty("value").GetString()).FirstOrDefault();

    private static async Task<List<JsonElement>> MessagesAsync(HttpClient client, string conversationId) =>
        (await client.GetJsonAsync($"/v1/conversations/{conversationId}/messages?after_seq=0&limit=200")).Json.EnumerateArray().ToList();

    private static async Task<List<JsonElement>> CardsAsync(HttpClient customer, string conversationId, string appointmentId) =>
        (await MessagesAsync(customer, conversationId)).Where(m => m.GetProperty("kind").GetString() == "card"
            && m.GetProperty("body").GetProperty("ref").GetProperty("type").GetString() == "appointment"
            && m.GetProperty("body").GetProperty("ref").GetProperty("id").GetString() == appointmentId).Select(m => m.GetProperty("body")).ToList();

    /// <summary>Waits (cards are delivered after the change commits) for a card of the appointment showing the state.</summary>
    private static async Task<JsonElement> CardAsync(HttpClient customer, string conversationId, string appointmentId, string state)
    {
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (true)
        {
            var match = (await CardsAsync(customer, conversationId, appointmentId)).LastOrDefault(c => Field(c, "状态") == state);
            if (match.ValueKind == JsonValueKind.Object)
                return match;
            Assert.True(DateTime.UtcNow < deadline, $"No card showing {state}.");
            await Task.Delay(50);
        }
    }

    private static async Task<(int, string?)> StatusAsync(Task<ApiResponse> call)
    {
        var response = await call;
        return (response.Status, response.Code);
    }
}
