using StoreLink.Protocol;
using StoreLink.Server.Data;
using StoreLink.Server.Http;

namespace StoreLink.Server.Accounts;

/// <summary>
/// Every lookup of an object by id goes through here. An object the caller may not see answers
/// <c>not_found</c>, exactly as one that does not exist, so ids of other organizations, stores and
/// customers reveal nothing. Each rule is a conditional on its own line.
/// </summary>
public sealed class Access(Db db)
{
    public async Task<StoreRow> StoreAsync(CurrentUser user, string storeId, CancellationToken ct)
    {
        var store = await db.QuerySingleOrDefaultAsync<StoreRow>(StoreRow.SelectById, new { id = storeId }, ct);
        if (store is null)
            throw ApiException.NotFound("The store");
        if (!CanSeeStore(user, store))
            throw ApiException.NotFound("The store");
        return store;
    }

    public static bool CanSeeStore(CurrentUser user, StoreRow store)
    {
        if (store.OrgId != user.OrgId)
            return false;
        if (user.IsApiClient)
            return user.StoreId is null || user.StoreId == store.Id;
        if (user.IsStaff)
            return user.HasStoreRole(store.Id);
        return false;
    }

    /// <summary>A store by its public key, for anyone (widgets are anonymous until they get a token).</summary>
    public async Task<StoreRow> StoreByKeyAsync(string? storeKey, CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(storeKey) || storeKey.Length > 64)
            throw ApiException.NotFound("The store");
        return await db.QuerySingleOrDefaultAsync<StoreRow>(StoreRow.SelectByKey, new { key = storeKey.Trim() }, ct)
            ?? throw ApiException.NotFound("The store");
    }

    public async Task<CustomerRow> CustomerAsync(CurrentUser user, string customerId, CancellationToken ct)
    {
        var customer = await db.QuerySingleOrDefaultAsync<CustomerRow>(CustomerRow.SelectById, new { id = customerId }, ct);
        if (customer is null)
            throw ApiException.NotFound("The customer");
        if (customer.OrgId != user.OrgId)
            throw ApiException.NotFound("The customer");
        if (user.IsCustomer && user.Id != customer.Id)
            throw ApiException.NotFound("The customer");
        user.RequirePermission(Permissions.CustomersRead);
        return customer;
    }

    public async Task<StaffRow> StaffAsync(CurrentUser user, string staffId, CancellationToken ct)
    {
        var staff = await db.QuerySingleOrDefaultAsync<StaffRow>(StaffRow.SelectById, new { id = staffId }, ct);
        if (staff is null)
            throw ApiException.NotFound("The staff member");
        if (staff.OrgId != user.OrgId)
            throw ApiException.NotFound("The staff member");
        if (!user.IsStaff)
            throw ApiException.NotFound("The staff member");
        return staff;
    }

    public async Task<ApiClientRow> ApiClientAsync(CurrentUser user, string apiClientId, CancellationToken ct)
    {
        var client = await db.QuerySingleOrDefaultAsync<ApiClientRow>(ApiClientRow.SelectById, new { id = apiClientId }, ct);
        if (client is null)
            throw ApiException.NotFound("The API client");
        if (client.OrgId != user.OrgId)
            throw ApiException.NotFound("The API client");
        if (!user.IsOrgAdmin)
            throw ApiException.NotFound("The API client");
        return client;
    }

    /// <summary>Org admins only; everyone else of the organization gets <c>forbidden</c>.</summary>
    public static void RequireOrgAdmin(CurrentUser user)
    {
        if (!user.IsOrgAdmin)
            throw ApiException.Forbidden("Only an organization admin may do this.");
    }

    /// <summary>Staff only: customers and API clients get <c>forbidden</c>.</summary>
    public static void RequireStaff(CurrentUser user)
    {
        if (!user.IsStaff)
            throw ApiException.Forbidden("Only staff may do this.");
    }
}
