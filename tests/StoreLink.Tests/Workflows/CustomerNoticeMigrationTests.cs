using System.Text.Json;
using Dapper;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using StoreLink.Protocol;
using StoreLink.Server.Accounts;
using StoreLink.Server.Data;
using StoreLink.Server.Workflows;
using StoreLink.Tests.Infrastructure;

namespace StoreLink.Tests.Workflows;

/// <summary>
/// Migration 0013 moves the five notice tables into <c>customer_notices</c>. A database written by the code before it
/// — a work item's card and reminder, an appointment's card and reminder, and a templated notification, all waiting —
/// is migrated and started, and each of them reaches the chat exactly once; a notification delivered before keeps
/// its history.
/// </summary>
public sealed class CustomerNoticeMigrationTests
{
    public static TheoryData<string> Databases => TestDatabases.Both;

    [Theory, MemberData(nameof(Databases))]
    public async Task Notices_pending_before_migration_0013_are_delivered_exactly_once_after_it(string provider)
    {
        var ct = TestContext.Current.CancellationToken;
        var database = await TestDatabases.CreateEmptyAsync(provider);
        var old = new OldNotices();
        await using (var db = new Db(Options.Create(new StorageOptions { Provider = database.Provider, ConnectionString = database.ConnectionString }),
                         Options.Create(new ServerOptions { DataDirectory = database.DataDirectory })))
        {
            var runner = new MigrationRunner(db, NullLogger<MigrationRunner>.Instance);
            await runner.ApplyAsync([.. Migration.Embedded(db.Dialect).Where(m => string.CompareOrdinal(m.Version, "0013") < 0)], ct);
            await new DemoSeed(db, new PasswordHasher<StaffRow>(), TimeProvider.System, NullLogger<DemoSeed>.Instance).SeedIfEmptyAsync(ct);
            await old.WriteAsync(db, TestClock.Now.ToUnixTimeMilliseconds());
        }

        await using var app = new StoreLinkApp(database);
        app.Start();
        var admin = await app.LoginAsync("admin@demo.local");
        var expected = new[] { old.WorkItemCardId, old.WorkItemReminderId, old.AppointmentCardId, old.AppointmentReminderId, old.PendingNotificationId };

        var deadline = DateTime.UtcNow.AddSeconds(30);
        Dictionary<string, int> posted;
        while (true)
        {
            posted = await PostedAsync(admin, old, ct);
            if (expected.All(posted.ContainsKey))
                break;
            Assert.True(DateTime.UtcNow < deadline, $"Delivered so far: {string.Join(", ", posted.Keys)}");
            await Task.Delay(100, ct);
        }
        Assert.Equal(0, await app.Services.GetRequiredService<Notifier>().DeliverDueAsync(ct)); // nothing left waiting
        posted = await PostedAsync(admin, old, ct);
        Assert.All(expected, id => Assert.Equal(1, posted[id]));

        var states = await app.Services.GetRequiredService<Db>().QueryAsync<(string Id, string State)>("SELECT id, state FROM customer_notices");
        Assert.All([.. expected, old.DeliveredNotificationId], id => Assert.Contains((id, "delivered"), states));

        var pending = await admin.GetJsonAsync($"/v1/notifications/{old.PendingNotificationId}");
        Assert.Equal("delivered", pending.Str("status"));
        var done = await admin.GetJsonAsync($"/v1/notifications/{old.DeliveredNotificationId}");
        Assert.Equal(("delivered", "msg_before_0013", "您的订单 SO-1 已发货"), (done.Str("status"), done.Str("message_id"), done.Str("text")));
    }

    /// <summary>How many messages carry each notice id as their <c>client_msg_id</c>, in the conversations the subjects talk in.</summary>
    private static async Task<Dictionary<string, int>> PostedAsync(HttpClient admin, OldNotices old, CancellationToken ct)
    {
        var conversationIds = new HashSet<string>();
        foreach (var path in new[] { $"/v1/work-items/{old.WorkItemId}", $"/v1/appointments/{old.AppointmentId}", $"/v1/notifications/{old.PendingNotificationId}" })
            if ((await admin.GetJsonAsync(path)).Json.GetProperty("conversation_id") is { ValueKind: JsonValueKind.String } id)
                conversationIds.Add(id.GetString()!);
        var counts = new Dictionary<string, int>();
        foreach (var conversationId in conversationIds)
            foreach (var message in (await admin.GetJsonAsync($"/v1/conversations/{conversationId}/messages?after_seq=0&limit=200")).Json.EnumerateArray())
                if (message.GetProperty("client_msg_id").GetString() is { } clientMsgId)
                    counts[clientMsgId] = counts.GetValueOrDefault(clientMsgId) + 1;
        ct.ThrowIfCancellationRequested();
        return counts;
    }

    /// <summary>The rows the code before 0013 wrote: an unpaid order with its card and reminder, a booked appointment with its card and reminder, notifications.</summary>
    private sealed class OldNotices
    {
        public string WorkItemId { get; } = Ids.New("wi", TimeProvider.System);
        public string AppointmentId { get; } = Ids.New("apt", TimeProvider.System);
        public string WorkItemCardId { get; } = Ids.New("ntc", TimeProvider.System);
        public string WorkItemReminderId { get; } = Ids.New("rmd", TimeProvider.System);
        public string AppointmentCardId { get; } = Ids.New("ntc", TimeProvider.System);
        public string AppointmentReminderId { get; } = Ids.New("rmd", TimeProvider.System);
        public string PendingNotificationId { get; } = Ids.New("ntf", TimeProvider.System);
        public string DeliveredNotificationId { get; } = Ids.New("ntf", TimeProvider.System);

        public async Task WriteAsync(Db db, long now)
        {
            async Task<string> OneAsync(string sql) => (await db.QuerySingleOrDefaultAsync<string>(sql))!;
            var org = await OneAsync("SELECT org_id FROM stores WHERE store_key = 'demo-bags'");
            var bags = await OneAsync("SELECT id FROM stores WHERE store_key = 'demo-bags'");
            var shoes = await OneAsync("SELECT id FROM stores WHERE store_key = 'demo-shoes'");
            var customer = await OneAsync("SELECT id FROM customers WHERE external_id = 'C1002'");
            var technician = await OneAsync("SELECT id FROM staff WHERE login = 'tech.shoes@demo.local'");
            var admin = await OneAsync("SELECT id FROM staff WHERE login = 'admin@demo.local'");
            var template = Ids.New("wft", TimeProvider.System);
            var enteredAt = now - 40 * 60_000L; // the unpaid order's reminder (after 30 minutes) is due
            var startsAt = now + 26 * 3_600_000L;
            var due = now - 60_000L;
            await db.InTransactionAsync(async (c, t) =>
            {
                await c.ExecuteAsync("""
                    INSERT INTO workflow_templates (id, org_id, kind, name, preset, current_version, is_default, created_at, updated_at)
                    VALUES (@template, @org, 'order', '箱包订单', 'bag_order', 1, 1, @now, @now)
                    """, new { template, org, now }, t);
                await c.ExecuteAsync("INSERT INTO workflow_template_versions (template_id, version, definition, created_at) VALUES (@template, 1, @definition, @now)",
                    new { template, definition = JsonSerializer.Serialize(Templates.Presets["bag_order"], ProtocolJson.Options), now }, t);
                await c.ExecuteAsync("""
                    INSERT INTO work_items (id, org_id, store_id, customer_id, kind, number, template_id, template_version, state, title, created_by, created_at, updated_at, state_entered_at)
                    VALUES (@WorkItemId, @org, @bags, @customer, 'order', 'O261207-001', @template, 1, 'unpaid', '商务双肩包 × 20', @admin, @enteredAt, @enteredAt, @enteredAt)
                    """, new { WorkItemId, org, bags, customer, template, admin, enteredAt }, t);
                await c.ExecuteAsync("""
                    INSERT INTO appointments (id, org_id, store_id, customer_id, service, starts_at, ends_at, technician_id, place, status, created_by, created_at, updated_at)
                    VALUES (@AppointmentId, @org, @shoes, @customer, 'shoe_deep_clean', @startsAt, @endsAt, @technician, 1, 'booked', @customer, @now, @now)
                    """, new { AppointmentId, org, shoes, customer, startsAt, endsAt = startsAt + 3_600_000L, technician, now }, t);

                await c.ExecuteAsync("INSERT INTO work_item_notices (work_item_id, id, due_at, created_at) VALUES (@WorkItemId, @WorkItemCardId, @due, @enteredAt)",
                    new { WorkItemId, WorkItemCardId, due, enteredAt }, t);
                await c.ExecuteAsync("""
                    INSERT INTO work_item_reminders (id, work_item_id, state, entered_at, due_at) VALUES (@WorkItemReminderId, @WorkItemId, 'unpaid', @enteredAt, @due)
                    """, new { WorkItemReminderId, WorkItemId, enteredAt, due = enteredAt + 30 * 60_000L }, t);
                await c.ExecuteAsync("INSERT INTO appointment_notices (appointment_id, id, due_at, created_at) VALUES (@AppointmentId, @AppointmentCardId, @due, @now)",
                    new { AppointmentId, AppointmentCardId, due, now }, t);
                await c.ExecuteAsync("""
                    INSERT INTO appointment_reminders (id, appointment_id, starts_at, due_at) VALUES (@AppointmentReminderId, @AppointmentId, @startsAt, @due)
                    """, new { AppointmentReminderId, AppointmentId, startsAt, due }, t);
                await c.ExecuteAsync("""
                    INSERT INTO notifications (id, org_id, store_id, customer_id, template_key, text, urgent, due_at, created_by, created_at, delivered_at, conversation_id, message_id)
                    VALUES (@PendingNotificationId, @org, @bags, @customer, 'pickup', '您的订单 "SO-2" 已到店，
                    请凭取件码 8848 取件', 0, @due, @admin, @due, NULL, NULL, NULL),
                           (@DeliveredNotificationId, @org, @bags, @customer, 'shipped', '您的订单 SO-1 已发货', 1, @earlier, @admin, @earlier, @earlier, 'cnv_before_0013', 'msg_before_0013')
                    """, new { PendingNotificationId, DeliveredNotificationId, org, bags, customer, due, admin, earlier = due - 86_400_000L }, t);
            });
        }
    }
}
