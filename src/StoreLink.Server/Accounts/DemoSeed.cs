using System.Data.Common;
using Dapper;
using Microsoft.AspNetCore.Identity;
using StoreLink.Protocol;
using StoreLink.Server.Data;

namespace StoreLink.Server.Accounts;

/// <summary>
/// The demo: two organizations (so isolation can be seen), four stores, staff of every role and a few
/// customers with purchase history. Seeded once, into an empty database only.
/// </summary>
public sealed class DemoSeed(Db db, IPasswordHasher<StaffRow> hasher, TimeProvider clock, ILogger<DemoSeed> logger)
{
    public const string Password = "demo1234";

    /// <summary>The identity secret of "Demo Retail", so that a developer can sign customer tokens by hand. Demo only.</summary>
    public const string RetailIdentitySecret = "demo-retail-identity-secret-change-me-0001";
    public const string FranchiseIdentitySecret = "demo-franchise-identity-secret-change-me-01";

    public static readonly (string Login, string Role, string? Store)[] Logins =
    [
        ("admin@demo.local", "org_admin", null),
        ("manager.digital@demo.local", "manager", "demo-digital"),
        ("agent.digital@demo.local", "agent", "demo-digital"),
        ("tech.digital@demo.local", "technician", "demo-digital"),
        ("agent.bags@demo.local", "agent", "demo-bags"),
        ("agent.shoes@demo.local", "agent", "demo-shoes"),
        ("tech.shoes@demo.local", "technician", "demo-shoes"),
        ("agent@franchise.demo.local", "agent", "demo-franchise"),
    ];

    private static readonly string Weekdays9To21 = WeeklyHours.Serialize(Hours(("09:00", "21:00"), ("10:00", "22:00")));
    private static readonly string Wholesale = WeeklyHours.Serialize(Hours(("08:30", "18:00"), ("09:00", "17:00"), sunday: false));
    private static readonly string Care = WeeklyHours.Serialize(Hours(("10:00", "20:00"), ("10:00", "20:00")));

    /// <summary>Seeds when the database holds no organization yet. Answers whether it did.</summary>
    public async Task<bool> SeedIfEmptyAsync(CancellationToken ct)
    {
        var seeded = await db.InTransactionAsync(async (c, t) =>
        {
            if (await c.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM organizations", transaction: t) > 0)
                return false;
            await SeedAsync(c, t);
            return true;
        }, ct);
        if (seeded)
            logger.LogInformation("Seeded the demo organizations");
        return seeded;
    }

    private async Task SeedAsync(DbConnection c, DbTransaction t)
    {
        var now = clock.GetUtcNow();
        var ms = now.ToUnixTimeMilliseconds();
        var retail = Ids.New("org", clock);
        var franchise = Ids.New("org", clock);
        await c.ExecuteAsync("INSERT INTO organizations (id, name, identity_secret, created_at) VALUES (@id, @name, @secret, @ms)",
            new[]
            {
                new { id = retail, name = "Demo Retail", secret = RetailIdentitySecret, ms },
                new { id = franchise, name = "Demo Franchise", secret = FranchiseIdentitySecret, ms },
            }, t);

        var stores = new Dictionary<string, string>();
        foreach (var (org, key, name, kind, hours) in new[]
        {
            (retail, "demo-digital", "数码旗舰店", "direct", Weekdays9To21),
            (retail, "demo-bags", "箱包批发店", "direct", Wholesale),
            (retail, "demo-shoes", "鞋履护理店", "direct", Care),
            (franchise, "demo-franchise", "加盟数码店", "franchise", Weekdays9To21),
        })
        {
            stores[key] = Ids.New("st", clock);
            await c.ExecuteAsync("""
                INSERT INTO stores (id, org_id, store_key, name, kind, time_zone, business_hours, created_at)
                VALUES (@id, @org, @key, @name, @kind, 'Asia/Shanghai', @hours, @ms)
                """, new { id = stores[key], org, key, name, kind, hours, ms }, t);
        }

        // Cards about work items wait for the morning unless urgent.
        await c.ExecuteAsync("UPDATE stores SET quiet_start = '21:00', quiet_end = '08:30'", transaction: t);
        // Customers report repairs (报修) from the widget at the digital stores and hand in shoes for care at the shoe store.
        await c.ExecuteAsync("""
            UPDATE stores SET customer_work_kinds = CASE WHEN store_key = 'demo-shoes' THEN '["care_job"]' ELSE '["ticket"]' END
            WHERE store_key IN ('demo-digital', 'demo-shoes', 'demo-franchise')
            """, transaction: t);

        foreach (var (key, shortcut, title, body) in new[]
        {
            ("demo-digital", "hi", "问候", "{customer.name}您好，我是{store.name}的{agent.name}，很高兴为您服务。"),
            ("demo-digital", "repair", "送修说明", "请带上设备和购买凭证到店检测，检测免费，维修前会先报价，经您确认后再维修。"),
            ("demo-digital", "bye", "结束语", "感谢您的咨询，{customer.name}，祝您生活愉快！如有问题随时联系{store.name}。"),
            ("demo-bags", "hi", "问候", "{customer.name}您好，{store.name}为您服务。批发起订量为 10 件，请问需要哪款？"),
            ("demo-shoes", "hi", "问候", "{customer.name}您好，{store.name}为您服务。请发一张鞋子的照片，我们帮您评估护理方案。"),
        })
            await c.ExecuteAsync("""
                INSERT INTO canned_replies (id, store_id, shortcut, title, body, created_at, updated_at)
                VALUES (@id, @storeId, @shortcut, @title, @body, @ms, @ms)
                """, new { id = Ids.New("cnr", clock), storeId = stores[key], shortcut, title, body, ms }, t);

        var names = new Dictionary<string, string>
        {
            ["admin@demo.local"] = "系统管理员", ["manager.digital@demo.local"] = "数码店长", ["agent.digital@demo.local"] = "数码客服",
            ["tech.digital@demo.local"] = "数码维修师傅", ["agent.bags@demo.local"] = "箱包客服", ["agent.shoes@demo.local"] = "鞋履客服",
            ["tech.shoes@demo.local"] = "鞋履养护师傅", ["agent@franchise.demo.local"] = "加盟店客服",
        };
        var staffIds = new Dictionary<string, string>();
        foreach (var (login, role, store) in Logins)
        {
            var row = new StaffRow { Id = staffIds[login] = Ids.New("stf", clock), Login = login, Name = names[login] };
            row.OrgId = store == "demo-franchise" ? franchise : retail;
            row.PasswordHash = hasher.HashPassword(row, Password);
            await c.ExecuteAsync("""
                INSERT INTO staff (id, org_id, login, name, password_hash, created_at) VALUES (@Id, @OrgId, @Login, @Name, @PasswordHash, @ms)
                """, new { row.Id, row.OrgId, row.Login, row.Name, row.PasswordHash, ms }, t);
            await c.ExecuteAsync("INSERT INTO staff_roles (staff_id, store_id, role) VALUES (@id, @storeId, @role)",
                new { id = row.Id, storeId = store is null ? null : stores[store], role }, t);
        }

        // Appointments in the stores' opening hours: shoe care with the technician (2 a slot), drop-off at the digital store.
        static Workflows.ServiceDef Service(string key, string zh, string en) => new(key, new() { ["zh-CN"] = zh, ["en"] = en });
        foreach (var (key, schedule) in new[]
        {
            ("demo-shoes", new Workflows.ScheduleDefinition(60, [Service("shoe_deep_clean", "鞋履深度清洁", "Deep shoe cleaning"), Service("color_repair", "补色翻新", "Colour repair")],
                null, [new(staffIds["tech.shoes@demo.local"], 2, null, null)], null, null, null, null, null)),
            ("demo-digital", new Workflows.ScheduleDefinition(30, [Service("device_drop_off", "数码送修", "Device drop-off"), Service("battery_check", "电池检测", "Battery check")],
                null, [new(staffIds["tech.digital@demo.local"], 1, null, null), new(staffIds["agent.digital@demo.local"], 1, null, ["device_drop_off"])], null, null, null, null, null)),
        })
            await c.ExecuteAsync("""
                INSERT INTO appointment_schedules (store_id, definition, version, updated_by, updated_at) VALUES (@storeId, @definition, 1, @by, @ms)
                """, new { storeId = stores[key], definition = System.Text.Json.JsonSerializer.Serialize(schedule, ProtocolJson.Options), by = staffIds["admin@demo.local"], ms }, t);

        var customers = new[]
        {
            (retail, "C1001", "演示顾客一", "13800000001", 2, "demo-digital", new[] { ("SO-20260915-0001", "iPhone 16 Pro 256GB", "7999.00"), ("SO-20261020-0107", "AirPods Pro 2", "1799.00") }),
            (retail, "C1002", "演示顾客二", "13800000002", 0, "demo-bags", new[] { ("SO-20261101-0032", "商务双肩包 × 20", "7980.00") }),
            (retail, "C1003", "演示顾客三", "13800000003", 1, "demo-shoes", new[] { ("SO-20261105-0210", "真皮皮鞋深度护理", "168.00") }),
            (franchise, "F2001", "加盟店顾客", "13900000001", 0, "demo-franchise", new[] { ("FS-20261012-0005", "华为 Mate 70", "5499.00") }),
        };
        var day = 0;
        foreach (var (org, externalId, name, phone, vip, store, purchases) in customers)
        {
            var id = Ids.New("cus", clock);
            await c.ExecuteAsync("""
                INSERT INTO customers (id, org_id, external_id, name, phone, vip_level, attributes, created_at, updated_at)
                VALUES (@id, @org, @externalId, @name, @phone, @vip, '{"source":"demo"}', @ms, @ms)
                """, new { id, org, externalId, name, phone, vip, ms }, t);
            foreach (var (orderNo, item, amount) in purchases)
                await c.ExecuteAsync("""
                    INSERT INTO customer_purchases (customer_id, order_no, store_id, item, amount, currency, purchased_at)
                    VALUES (@id, @orderNo, @storeId, @item, @amount, 'CNY', @at)
                    """, new { id, orderNo, storeId = stores[store], item, amount, at = now.AddDays(-30 - 7 * day++).ToUnixTimeMilliseconds() }, t);
        }
    }

    private static Dictionary<string, List<HoursRange>> Hours((string Open, string Close) weekday, (string Open, string Close) weekend, bool sunday = true)
    {
        var hours = WeeklyHours.Days.Take(5).ToDictionary(d => d, _ => new List<HoursRange> { new(weekday.Open, weekday.Close) });
        hours["sat"] = [new(weekend.Open, weekend.Close)];
        if (sunday)
            hours["sun"] = [new(weekend.Open, weekend.Close)];
        return hours;
    }
}
