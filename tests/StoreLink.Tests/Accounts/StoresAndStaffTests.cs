using StoreLink.Tests.Infrastructure;

namespace StoreLink.Tests.Accounts;

public sealed class StoresAndStaffTests
{
    public static TheoryData<string> Databases => TestDatabases.Both;

    [Theory, MemberData(nameof(Databases))]
    public async Task An_admin_opens_a_store_and_hires_staff_who_can_then_sign_in(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db);
        var admin = await app.LoginAsync("admin@demo.local");
        var store = await admin.PostJsonAsync("/v1/stores", new
        {
            store_key = "demo-watch", name = "钟表店", kind = "franchise", time_zone = "Asia/Shanghai",
            business_hours = new { mon = new[] { new { open = "09:00", close = "12:00" }, new { open = "13:00", close = "18:00" } }, sun = Array.Empty<object>() },
        });
        Assert.Equal(201, store.Status);
        Assert.Equal("franchise", store.Str("kind"));
        Assert.Equal("13:00", store.Json.GetProperty("business_hours").GetProperty("mon")[1].GetProperty("open").GetString());
        var storeId = store.Str("id");

        var staff = await admin.PostJsonAsync("/v1/staff", new
        {
            login = "Watch.Agent@demo.local", name = "钟表客服", password = "watch-1234",
            roles = new[] { new { store_id = storeId, role = "agent" } },
        });
        Assert.Equal(201, staff.Status);
        Assert.Equal("watch.agent@demo.local", staff.Str("login"));

        var agent = await app.LoginAsync("watch.agent@demo.local", "watch-1234");
        var stores = await agent.GetJsonAsync("/v1/stores");
        Assert.Equal("demo-watch", Assert.Single(stores.Json.EnumerateArray()).GetProperty("store_key").GetString());

        Assert.Equal((409, "conflict"), ((await admin.PostJsonAsync("/v1/stores", new { store_key = "demo-watch", name = "again" })) is var s ? (s.Status, s.Code) : default));
        Assert.Equal(409, (await admin.PostJsonAsync("/v1/staff", new { login = "watch.agent@demo.local", name = "x", password = "12345678" })).Status);
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task Store_settings_are_validated_field_by_field(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db);
        var admin = await app.LoginAsync("admin@demo.local");
        var bad = await admin.PostJsonAsync("/v1/stores", new
        {
            store_key = "Bad Key!", name = "", kind = "mall", time_zone = "Mars/Olympus",
            business_hours = new { mon = new[] { new { open = "18:00", close = "09:00" } }, funday = Array.Empty<object>() },
        });
        Assert.Equal((400, "invalid_request"), (bad.Status, bad.Code));
        var errors = bad.Json.GetProperty("errors");
        foreach (var field in new[] { "store_key", "name", "kind", "time_zone", "business_hours.mon", "business_hours.funday" })
            Assert.True(errors.TryGetProperty(field, out _), $"no error for {field}: {bad.Body}");
        var overlap = await admin.PostJsonAsync("/v1/stores", new
        {
            store_key = "overlap", name = "x", business_hours = new { tue = new[] { new { open = "09:00", close = "13:00" }, new { open = "12:00", close = "18:00" } } },
        });
        Assert.True(overlap.Json.GetProperty("errors").TryGetProperty("business_hours.tue", out _));
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task A_manager_changes_hours_of_their_store_and_an_agent_may_not(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db);
        var manager = await app.LoginAsync("manager.digital@demo.local");
        var storeId = (await manager.GetJsonAsync("/v1/stores")).Json[0].GetProperty("id").GetString();
        var changed = await manager.PatchJsonAsync($"/v1/stores/{storeId}", new { business_hours = new { sat = new[] { new { open = "08:00", close = "24:00" } } } });
        Assert.Equal(200, changed.Status);
        Assert.Equal("24:00", changed.Json.GetProperty("business_hours").GetProperty("sat")[0].GetProperty("close").GetString());
        Assert.Equal("数码旗舰店", changed.Str("name"));
        Assert.Equal(400, (await manager.PatchJsonAsync($"/v1/stores/{storeId}", new { kind = "franchise" })).Status);

        var agent = await app.LoginAsync("agent.digital@demo.local");
        var refused = await agent.PatchJsonAsync($"/v1/stores/{storeId}", new { name = "改名" });
        Assert.Equal((403, "forbidden"), (refused.Status, refused.Code));
        Assert.Equal(403, (await agent.PostJsonAsync("/v1/stores", new { store_key = "mine", name = "x" })).Status);
        Assert.Equal(403, (await agent.PostJsonAsync("/v1/staff", new { login = "x@y", name = "x", password = "12345678" })).Status);
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task Disabling_an_account_or_changing_its_password_ends_its_sessions(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db);
        var admin = await app.LoginAsync("admin@demo.local");
        var agent = await app.LoginAsync("agent.shoes@demo.local");
        var agentPhone = await app.LoginAsync("agent.shoes@demo.local");
        var id = (await agent.GetJsonAsync("/v1/me")).Str("id");

        // Changing one's own password keeps the session that did it and ends the others.
        Assert.Equal(200, (await agent.PatchJsonAsync($"/v1/staff/{id}", new { password = "new-password-1", current_password = "demo1234" })).Status);
        Assert.Equal(200, (await agent.GetJsonAsync("/v1/me")).Status);
        Assert.Equal(401, (await agentPhone.GetJsonAsync("/v1/me")).Status);
        Assert.Equal(401, (await app.Anonymous().PostJsonAsync("/v1/auth/login", new { login = "agent.shoes@demo.local", password = "demo1234" })).Status);

        Assert.Equal(403, (await agent.PatchJsonAsync($"/v1/staff/{(await admin.GetJsonAsync("/v1/me")).Str("id")}", new { name = "x" })).Status);
        Assert.Equal(200, (await admin.PatchJsonAsync($"/v1/staff/{id}", new { disabled = true })).Status);
        Assert.Equal(401, (await agent.GetJsonAsync("/v1/me")).Status);
        Assert.Equal(401, (await app.Anonymous().PostJsonAsync("/v1/auth/login", new { login = "agent.shoes@demo.local", password = "new-password-1" })).Status);

        Assert.Equal(200, (await admin.PatchJsonAsync($"/v1/staff/{id}", new { disabled = false })).Status);
        Assert.Equal(200, (await app.Anonymous().PostJsonAsync("/v1/auth/login", new { login = "agent.shoes@demo.local", password = "new-password-1" })).Status);
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task Roles_are_replaced_whole_and_checked(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db);
        var admin = await app.LoginAsync("admin@demo.local");
        var stores = (await admin.GetJsonAsync("/v1/stores")).Json.EnumerateArray().ToDictionary(s => s.GetProperty("store_key").GetString()!, s => s.GetProperty("id").GetString()!);
        var staff = (await admin.GetJsonAsync("/v1/staff")).Json.EnumerateArray().ToDictionary(s => s.GetProperty("login").GetString()!, s => s.GetProperty("id").GetString()!);

        var set = await admin.PutJsonAsync($"/v1/staff/{staff["agent.bags@demo.local"]}/roles", new
        {
            roles = new[] { new { store_id = stores["demo-bags"], role = "manager" }, new { store_id = stores["demo-shoes"], role = "agent" } },
        });
        Assert.Equal(200, set.Status);
        var bags = await app.LoginAsync("agent.bags@demo.local");
        Assert.Equal(2, (await bags.GetJsonAsync("/v1/stores")).Json.GetArrayLength());

        var bad = await admin.PutJsonAsync($"/v1/staff/{staff["agent.bags@demo.local"]}/roles", new
        {
            roles = new object[] { new { store_id = stores["demo-bags"], role = "owner" }, new { role = "agent" }, new { store_id = stores["demo-bags"], role = "org_admin" } },
        });
        Assert.Equal(400, bad.Status);
        Assert.Equal(3, bad.Json.GetProperty("errors").GetProperty("roles").GetArrayLength());
        var self = await admin.PutJsonAsync($"/v1/staff/{(await admin.GetJsonAsync("/v1/me")).Str("id")}/roles", new { roles = Array.Empty<object>() });
        Assert.Equal(400, self.Status);
    }
}
