using StoreLink.Tests.Infrastructure;

namespace StoreLink.Tests.Workflows;

/// <summary>Work item lists count only what the caller may see, so a busy store does not crowd a quiet one out of the page.</summary>
public sealed class WorkItemListTests
{
    public static TheoryData<string> Databases => TestDatabases.Both;

    [Theory, MemberData(nameof(Databases))]
    public async Task A_staff_list_without_a_store_is_limited_after_leaving_out_other_stores(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db);
        var shoesAgent = await app.LoginAsync("agent.shoes@demo.local");
        var digitalAgent = await app.LoginAsync("agent.digital@demo.local");
        var admin = await app.LoginAsync("admin@demo.local");
        var customer = (await (await app.VisitorAsync("demo-shoes")).GetJsonAsync("/v1/me")).Str("id");
        var stores = (await admin.GetJsonAsync("/v1/stores")).Json.EnumerateArray().ToDictionary(s => s.GetProperty("store_key").GetString()!, s => s.GetProperty("id").GetString()!);

        var shoes = await shoesAgent.PostJsonAsync("/v1/work-items", new { store_id = stores["demo-shoes"], kind = "care_job", customer_id = customer, title = "麂皮靴清洁" });
        Assert.Equal(201, shoes.Status);
        app.Clock.Advance(TimeSpan.FromSeconds(1));
        foreach (var title in new[] { "手机进水", "平板碎屏" })
            Assert.Equal(201, (await digitalAgent.PostJsonAsync("/v1/work-items", new { store_id = stores["demo-digital"], kind = "ticket", customer_id = customer, title })).Status);

        // The newest items are the digital store's; the shoe store's agent still gets their own on a page of one.
        var page = (await shoesAgent.GetJsonAsync("/v1/work-items?limit=1")).Json.EnumerateArray().ToList();
        Assert.Equal([shoes.Str("id")], page.Select(i => i.GetProperty("id").GetString()));
        Assert.Equal(2, (await digitalAgent.GetJsonAsync("/v1/work-items?limit=2")).Json.GetArrayLength());
        Assert.Equal(2, (await admin.GetJsonAsync("/v1/work-items?limit=2")).Json.GetArrayLength());
    }
}
