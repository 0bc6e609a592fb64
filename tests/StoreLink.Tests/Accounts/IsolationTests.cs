using StoreLink.Server.Accounts;
using StoreLink.Tests.Infrastructure;

namespace StoreLink.Tests.Accounts;

/// <summary>Objects of another organization, store or customer answer not_found, exactly as ones that do not exist.</summary>
public sealed class IsolationTests
{
    public static TheoryData<string> Databases => TestDatabases.Both;

    private sealed record Ids(Dictionary<string, string> Stores, Dictionary<string, string> Customers, Dictionary<string, string> Staff, string FranchiseStore, string FranchiseCustomer, string FranchiseStaff);

    private static async Task<Ids> IdsAsync(StoreLinkApp app)
    {
        var admin = await app.LoginAsync("admin@demo.local");
        var stores = (await admin.GetJsonAsync("/v1/stores")).Json.EnumerateArray().ToDictionary(s => s.GetProperty("store_key").GetString()!, s => s.GetProperty("id").GetString()!);
        var customers = (await admin.GetJsonAsync("/v1/customers")).Json.EnumerateArray().ToDictionary(s => s.GetProperty("external_id").GetString()!, s => s.GetProperty("id").GetString()!);
        var staff = (await admin.GetJsonAsync("/v1/staff")).Json.EnumerateArray().ToDictionary(s => s.GetProperty("login").GetString()!, s => s.GetProperty("id").GetString()!);

        var franchise = await app.LoginAsync("agent@franchise.demo.local");
        var franchiseStore = (await franchise.GetJsonAsync("/v1/stores")).Json[0].GetProperty("id").GetString()!;
        var franchiseCustomer = (await franchise.GetJsonAsync("/v1/customers")).Json[0].GetProperty("id").GetString()!;
        var franchiseStaff = (await franchise.GetJsonAsync("/v1/me")).Str("id");
        return new Ids(stores, customers, staff, franchiseStore, franchiseCustomer, franchiseStaff);
    }

    private static async Task AssertNotFound(HttpClient client, string path)
    {
        var response = await client.GetJsonAsync(path);
        Assert.True(response.Status == 404 && response.Code == "not_found", $"{path}: {response}");
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task Another_organization_is_invisible(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db);
        var ids = await IdsAsync(app);
        var franchise = await app.LoginAsync("agent@franchise.demo.local");
        await AssertNotFound(franchise, $"/v1/stores/{ids.Stores["demo-digital"]}");
        await AssertNotFound(franchise, $"/v1/customers/{ids.Customers["C1001"]}");
        await AssertNotFound(franchise, $"/v1/staff/{ids.Staff["admin@demo.local"]}");
        Assert.DoesNotContain((await franchise.GetJsonAsync("/v1/customers")).Json.EnumerateArray(), c => c.GetProperty("external_id").GetString() == "C1001");
        Assert.DoesNotContain((await franchise.GetJsonAsync("/v1/staff")).Json.EnumerateArray(), s => s.GetProperty("login").GetString() == "admin@demo.local");

        var admin = await app.LoginAsync("admin@demo.local");
        await AssertNotFound(admin, $"/v1/stores/{ids.FranchiseStore}");
        await AssertNotFound(admin, $"/v1/customers/{ids.FranchiseCustomer}");
        await AssertNotFound(admin, $"/v1/staff/{ids.FranchiseStaff}");
        Assert.Equal(404, (await admin.PatchJsonAsync($"/v1/stores/{ids.FranchiseStore}", new { name = "x" })).Status);
        Assert.Equal(404, (await admin.PatchJsonAsync($"/v1/staff/{ids.FranchiseStaff}", new { disabled = true })).Status);
        Assert.Equal(404, (await admin.PutJsonAsync($"/v1/staff/{ids.FranchiseStaff}/roles", new { roles = Array.Empty<object>() })).Status);
        // A role in another organization's store is refused too.
        var foreignRole = await admin.PutJsonAsync($"/v1/staff/{ids.Staff["agent.bags@demo.local"]}/roles", new { roles = new[] { new { store_id = ids.FranchiseStore, role = "agent" } } });
        Assert.Equal(400, foreignRole.Status);

        // The same holds for an organization's API key.
        var retailKey = await admin.PostJsonAsync("/v1/api-clients", new { name = "x", permissions = new[] { "customers:read" } });
        var key = app.WithToken(retailKey.Str("key"));
        await AssertNotFound(key, $"/v1/customers/{ids.FranchiseCustomer}");
        Assert.Equal(200, (await key.GetJsonAsync($"/v1/customers/{ids.Customers["C1001"]}")).Status);
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task Staff_see_only_the_stores_they_work_in(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db);
        var ids = await IdsAsync(app);
        var bags = await app.LoginAsync("agent.bags@demo.local");
        var visible = (await bags.GetJsonAsync("/v1/stores")).Json.EnumerateArray().Select(s => s.GetProperty("store_key").GetString()).ToList();
        Assert.Equal(["demo-bags"], visible);
        Assert.Equal(200, (await bags.GetJsonAsync($"/v1/stores/{ids.Stores["demo-bags"]}")).Status);
        await AssertNotFound(bags, $"/v1/stores/{ids.Stores["demo-digital"]}");

        var admin = await app.LoginAsync("admin@demo.local");
        Assert.Equal(3, (await admin.GetJsonAsync("/v1/stores")).Json.GetArrayLength());
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task A_customer_sees_only_itself(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db);
        var ids = await IdsAsync(app);
        var visitor = await app.VisitorAsync("demo-digital");
        var me = (await visitor.GetJsonAsync("/v1/me")).Str("id");
        var own = await visitor.GetJsonAsync($"/v1/customers/{me}");
        Assert.Equal(200, own.Status);
        Assert.True(own.Json.GetProperty("visitor").GetBoolean());
        await AssertNotFound(visitor, $"/v1/customers/{ids.Customers["C1001"]}");
        await AssertNotFound(visitor, $"/v1/stores/{ids.Stores["demo-digital"]}");
        await AssertNotFound(visitor, $"/v1/staff/{ids.Staff["agent.digital@demo.local"]}");
        Assert.Equal(403, (await visitor.GetJsonAsync("/v1/customers")).Status);
        Assert.Equal(403, (await visitor.GetJsonAsync("/v1/staff")).Status);

        var other = await app.VisitorAsync("demo-digital");
        await AssertNotFound(other, $"/v1/customers/{me}");

        var token = Jwt.Sign(new { sub = "C1002", exp = Jwt.In(TimeSpan.FromMinutes(5)) }, DemoSeed.RetailIdentitySecret);
        var customer = app.WithToken((await app.Anonymous().PostJsonAsync("/v1/auth/customer", new { store_key = "demo-bags", identity_token = token })).Str("access_token"));
        await AssertNotFound(customer, $"/v1/customers/{ids.Customers["C1001"]}");
        var self = await customer.GetJsonAsync($"/v1/customers/{ids.Customers["C1002"]}");
        Assert.Equal("SO-20261101-0032", self.Json.GetProperty("purchases")[0].GetProperty("order_no").GetString());
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task Ids_that_are_not_ids_are_simply_not_found(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db);
        var admin = await app.LoginAsync("admin@demo.local");
        foreach (var id in new[] { "x", "st_", "'; DROP TABLE stores; --", new string('9', 500), "%00", "..%2F..%2Fetc" })
        {
            await AssertNotFound(admin, $"/v1/stores/{Uri.EscapeDataString(id)}");
            await AssertNotFound(admin, $"/v1/customers/{Uri.EscapeDataString(id)}");
        }
        Assert.Equal(3, (await admin.GetJsonAsync("/v1/stores")).Json.GetArrayLength());
    }
}
