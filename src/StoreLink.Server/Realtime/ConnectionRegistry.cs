using System.Collections.Concurrent;
using StoreLink.Server.Accounts;

namespace StoreLink.Server.Realtime;

/// <summary>
/// The connections of this node, indexed the ways an <see cref="Audience"/> names them: by user, by store (staff
/// with a role there; its managers), by organization (its admins; all its staff) and by token (for revocation).
/// </summary>
public sealed class ConnectionRegistry
{
    private readonly ConcurrentDictionary<string, Connection> _all = new();
    private readonly Index _byUser = new();
    private readonly Index _byStore = new();
    private readonly Index _byStoreManager = new();
    private readonly Index _byOrgAdmin = new();
    private readonly Index _byOrgStaff = new();
    private readonly Index _byToken = new();

    public int Count => _all.Count;

    public IEnumerable<Connection> All => _all.Values;

    public void Add(Connection connection)
    {
        _all[connection.Id] = connection;
        foreach (var (index, key) in Keys(connection))
            index.Add(key, connection);
    }

    public void Remove(Connection connection)
    {
        _all.TryRemove(connection.Id, out _);
        foreach (var (index, key) in Keys(connection))
            index.Remove(key, connection);
    }

    /// <summary>
    /// Moves the connection to the token of <paramref name="renewed"/>: it is indexed under the new token before it leaves
    /// the old one, so a revocation of either token that races the move still finds it.
    /// </summary>
    public void Renew(Connection connection, CurrentUser renewed)
    {
        var old = connection.User.TokenHash;
        if (renewed.TokenHash is not null)
            _byToken.Add(renewed.TokenHash, connection);
        connection.Renew(renewed);
        if (old is not null && old != renewed.TokenHash)
            _byToken.Remove(old, connection);
    }

    public IEnumerable<Connection> OfUser(string userId) => _byUser.Get(userId);

    public IEnumerable<Connection> OfToken(string tokenHash) => _byToken.Get(tokenHash);

    public int CountOfUser(string userId) => _byUser.Get(userId).Count();

    /// <summary>Every connection the audience names, each once.</summary>
    public IEnumerable<Connection> Resolve(Audience audience)
    {
        var seen = new HashSet<string>();
        foreach (var userId in audience.UserIds)
            foreach (var c in _byUser.Get(userId))
                if (seen.Add(c.Id))
                    yield return c;
        if (audience.StoreId is not null)
            foreach (var c in _byStore.Get(audience.StoreId))
                if (seen.Add(c.Id))
                    yield return c;
        if (audience.ManagersOf is not null)
            foreach (var c in _byStoreManager.Get(audience.ManagersOf))
                if (seen.Add(c.Id))
                    yield return c;
        if (audience.OrgAdminsOf is not null)
            foreach (var c in _byOrgAdmin.Get(audience.OrgAdminsOf))
                if (seen.Add(c.Id))
                    yield return c;
        if (audience.StaffOf is not null)
            foreach (var c in _byOrgStaff.Get(audience.StaffOf))
                if (seen.Add(c.Id))
                    yield return c;
    }

    private IEnumerable<(Index, string)> Keys(Connection connection)
    {
        var user = connection.User;
        yield return (_byUser, user.Id);
        if (user.TokenHash is not null)
            yield return (_byToken, user.TokenHash);
        if (!user.IsStaff)
            yield break;
        yield return (_byOrgStaff, user.OrgId);
        if (user.IsOrgAdmin)
            yield return (_byOrgAdmin, user.OrgId);
        foreach (var store in user.StoreIds)
            yield return (_byStore, store);
        foreach (var role in user.Roles.Where(r => r.Role == Protocol.Roles.Manager && r.StoreId is not null))
            yield return (_byStoreManager, role.StoreId!);
    }

    private sealed class Index
    {
        private readonly ConcurrentDictionary<string, ConcurrentDictionary<string, Connection>> _map = new();

        // Adds and removes take a lock so an emptied set is never dropped while another connection joins it;
        // reads (every push) take none.
        public void Add(string key, Connection c)
        {
            lock (_map)
                _map.GetOrAdd(key, _ => new()).TryAdd(c.Id, c);
        }

        public void Remove(string key, Connection c)
        {
            lock (_map)
            {
                if (!_map.TryGetValue(key, out var set))
                    return;
                set.TryRemove(c.Id, out _);
                if (set.IsEmpty)
                    _map.TryRemove(key, out _);
            }
        }

        public IEnumerable<Connection> Get(string key) => _map.TryGetValue(key, out var set) ? set.Values : [];
    }
}
