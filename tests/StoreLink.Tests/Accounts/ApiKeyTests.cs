using StoreLink.Tests.Infrastructure;

namespace StoreLink.Tests.Accounts;

public sealed class ApiKeyTests
{
    public static TheoryData<string> Databases => TestDatabases.Both;

    private static async Task<(string Id, string Key)> CreateKeyAsync(HttpClient admin, object body)
    {
        var created = await admin.PostJsonAsync("/v1/api-clients", body);
        Assert.Equal(201, created.Status);
        return (created.Json.GetProperty("api_client").GetProperty("id").GetString()!, created.Str("key"));
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task An_api_key_is_a_bearer_credential_limited_to_its_permissions(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db);
        var admin = await app.LoginAsync("admin@demo.local");
        var (_, readKey) = await CreateKeyAsync(admin, new { name = "售后系统", permissions = new[] { "customers:read" } });
        Assert.StartsWith("slk_", readKey);

        var reader = app.WithToken(readKey);
        var me = await reader.GetJsonAsync("/v1/me");
        Assert.Equal("api_client", me.Str("kind"));
        var customers = await reader.GetJsonAsync("/v1/customers?q=演示");
        Assert.Equal(200, customers.Status);
        Assert.Equal(3, customers.Json.GetArrayLength());

        var write = await reader.PostJsonAsync("/v1/customers", new { external_id = "ERP-1", name = "新顾客" });
        Assert.Equal((403, "forbidden"), (write.Status, write.Code));
        var stores = await reader.GetJsonAsync("/v1/stores");
        Assert.Equal((403, "forbidden"), (stores.Status, stores.Code));
        Assert.Equal(403, (await reader.PostJsonAsync("/v1/api-clients", new { name = "x", permissions = new[] { "customers:read" } })).Status);

        var (_, writeKey) = await CreateKeyAsync(admin, new { name = "订单系统", permissions = new[] { "customers:read", "customers:write" } });
        var writer = app.WithToken(writeKey);
        var body = new
        {
            external_id = "ERP-1", name = "新顾客", phone = "13700000000", vip_level = 1, attributes = new { city = "上海" },
            purchases = new[] { new { order_no = "SO-1", item = "充电器", amount = "99.00", currency = "cny", purchased_at = "2026-11-01T10:00:00Z" } },
        };
        var created = await writer.PostJsonAsync("/v1/customers", body);
        Assert.Equal(201, created.Status);
        Assert.Equal("CNY", created.Json.GetProperty("purchases")[0].GetProperty("currency").GetString());
        var updated = await writer.PostJsonAsync("/v1/customers", new { external_id = "ERP-1", vip_level = 4 });
        Assert.Equal(200, updated.Status);
        Assert.Equal(created.Str("id"), updated.Str("id"));
        Assert.Equal(4, updated.Json.GetProperty("vip_level").GetInt32());
        Assert.Equal("新顾客", updated.Str("name"));
        Assert.Equal("上海", updated.Json.GetProperty("attributes").GetProperty("city").GetString());
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task A_revoked_key_stops_working_and_the_list_never_shows_the_key(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db);
        var admin = await app.LoginAsync("admin@demo.local");
        var (id, key) = await CreateKeyAsync(admin, new { name = "临时", permissions = new[] { "customers:read" } });
        Assert.Equal(200, (await app.WithToken(key).GetJsonAsync("/v1/customers")).Status);

        var list = await admin.GetJsonAsync("/v1/api-clients");
        var listed = Assert.Single(list.Json.EnumerateArray());
        Assert.Equal(key[..12], listed.GetProperty("key_prefix").GetString());
        Assert.DoesNotContain(key, list.Body);
        Assert.True(listed.TryGetProperty("last_used_at", out _));

        Assert.Equal(204, (await admin.DeleteJsonAsync($"/v1/api-clients/{id}")).Status);
        var after = await app.WithToken(key).GetJsonAsync("/v1/customers");
        Assert.Equal((401, "unauthorized"), (after.Status, after.Code));
        Assert.True((await admin.GetJsonAsync("/v1/api-clients")).Json[0].TryGetProperty("revoked_at", out _));
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task A_store_scoped_key_sees_only_its_store(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db);
        var admin = await app.LoginAsync("admin@demo.local");
        var stores = (await admin.GetJsonAsync("/v1/stores")).Json.EnumerateArray().ToDictionary(s => s.GetProperty("store_key").GetString()!, s => s.GetProperty("id").GetString()!);
        var (_, key) = await CreateKeyAsync(admin, new { name = "箱包 ERP", store_id = stores["demo-bags"], permissions = new[] { "stores:read" } });
        var client = app.WithToken(key);

        var visible = await client.GetJsonAsync("/v1/stores");
        Assert.Equal("demo-bags", Assert.Single(visible.Json.EnumerateArray()).GetProperty("store_key").GetString());
        Assert.Equal(200, (await client.GetJsonAsync($"/v1/stores/{stores["demo-bags"]}")).Status);
        Assert.Equal((404, "not_found"), ((await client.GetJsonAsync($"/v1/stores/{stores["demo-digital"]}")) is var r ? (r.Status, r.Code) : default));
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task Only_org_admins_manage_keys_and_bad_requests_say_which_field(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db);
        var manager = await app.LoginAsync("manager.digital@demo.local");
        Assert.Equal(403, (await manager.PostJsonAsync("/v1/api-clients", new { name = "x", permissions = new[] { "customers:read" } })).Status);
        Assert.Equal(403, (await manager.GetJsonAsync("/v1/api-clients")).Status);

        var admin = await app.LoginAsync("admin@demo.local");
        var bad = await admin.PostJsonAsync("/v1/api-clients", new { name = "", permissions = new[] { "everything" } });
        Assert.Equal((400, "invalid_request"), (bad.Status, bad.Code));
        var errors = bad.Json.GetProperty("errors");
        Assert.True(errors.TryGetProperty("name", out _));
        Assert.Contains("everything", errors.GetProperty("permissions")[0].GetString());
        var foreignStore = await admin.PostJsonAsync("/v1/api-clients", new { name = "x", store_id = "st_01NOTASTORE0000000000000000", permissions = new[] { "customers:read" } });
        Assert.Equal(404, foreignStore.Status);
    }
}
