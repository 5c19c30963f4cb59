//! The command table: every command Keel serves, declared once (Redis's commands.def in spirit).
//! Arity, flags and key positions follow Redis 7.0's `COMMAND INFO`.

use super::{
    connection as conn, hashes, introspection as intro, keys, lists, server as srv, sets, strings, zset_ops, zsets,
    CommandSpec,
};

macro_rules! cmd {
    ($name:literal, $arity:expr, $flags:literal, $cats:literal, $keys:expr, $group:literal,
     $summary:literal, $handler:expr) => {
        CommandSpec {
            name: $name,
            arity: $arity,
            flags: $flags,
            categories: $cats,
            keys: $keys,
            group: $group,
            summary: $summary,
            handler: Some($handler),
            subcommands: &[],
        }
    };
}

macro_rules! container {
    ($name:literal, $arity:expr, $group:literal, $summary:literal, $handler:expr, [$($sub:expr),* $(,)?]) => {
        CommandSpec {
            name: $name,
            arity: $arity,
            flags: "",
            categories: "",
            keys: (0, 0, 0),
            group: $group,
            summary: $summary,
            handler: $handler,
            subcommands: &[$($sub),*],
        }
    };
}

const NOKEY: (i32, i32, i32) = (0, 0, 0);
const KEY1: (i32, i32, i32) = (1, 1, 1);
const ALLKEYS: (i32, i32, i32) = (1, -1, 1);

pub static COMMANDS: &[CommandSpec] = &[
    // Strings.
    cmd!("get", 2, "readonly fast", "@string", KEY1, "string", "Returns the string value of a key.", strings::get),
    cmd!(
        "set",
        -3,
        "write denyoom",
        "@string",
        KEY1,
        "string",
        "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.",
        strings::set
    ),
    cmd!(
        "setnx",
        3,
        "write denyoom fast",
        "@string",
        KEY1,
        "string",
        "Set the string value of a key only when the key doesn't exist.",
        strings::setnx
    ),
    cmd!(
        "setex",
        4,
        "write denyoom",
        "@string",
        KEY1,
        "string",
        "Sets the string value and expiration time of a key. Creates the key if it doesn't exist.",
        strings::setex
    ),
    cmd!(
        "psetex",
        4,
        "write denyoom",
        "@string",
        KEY1,
        "string",
        "Sets both string value and expiration time in milliseconds of a key. The key is created if it doesn't exist.",
        strings::psetex
    ),
    cmd!(
        "mget",
        -2,
        "readonly fast",
        "@string",
        ALLKEYS,
        "string",
        "Atomically returns the string values of one or more keys.",
        strings::mget
    ),
    cmd!(
        "mset",
        -3,
        "write denyoom",
        "@string",
        (1, -1, 2),
        "string",
        "Atomically creates or modifies the string values of one or more keys.",
        strings::mset
    ),
    cmd!(
        "msetnx",
        -3,
        "write denyoom",
        "@string",
        (1, -1, 2),
        "string",
        "Atomically modifies the string values of one or more keys only when all keys don't exist.",
        strings::msetnx
    ),
    cmd!(
        "getset",
        3,
        "write denyoom fast",
        "@string",
        KEY1,
        "string",
        "Returns the previous string value of a key after setting it to a new value.",
        strings::getset
    ),
    cmd!(
        "getdel",
        2,
        "write fast",
        "@string",
        KEY1,
        "string",
        "Returns the string value of a key after deleting the key.",
        strings::getdel
    ),
    cmd!(
        "getex",
        -2,
        "write fast",
        "@string",
        KEY1,
        "string",
        "Returns the string value of a key after setting its expiration time.",
        strings::getex
    ),
    cmd!(
        "append",
        3,
        "write denyoom fast",
        "@string",
        KEY1,
        "string",
        "Appends a string to the value of a key. Creates the key if it doesn't exist.",
        strings::append
    ),
    cmd!(
        "strlen",
        2,
        "readonly fast",
        "@string",
        KEY1,
        "string",
        "Returns the length of a string value.",
        strings::strlen
    ),
    cmd!(
        "incr",
        2,
        "write denyoom fast",
        "@string",
        KEY1,
        "string",
        "Increments the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.",
        strings::incr
    ),
    cmd!(
        "decr",
        2,
        "write denyoom fast",
        "@string",
        KEY1,
        "string",
        "Decrements the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.",
        strings::decr
    ),
    cmd!(
        "incrby",
        3,
        "write denyoom fast",
        "@string",
        KEY1,
        "string",
        "Increments the integer value of a key by a number. Uses 0 as initial value if the key doesn't exist.",
        strings::incrby
    ),
    cmd!(
        "decrby",
        3,
        "write denyoom fast",
        "@string",
        KEY1,
        "string",
        "Decrements a number from the integer value of a key. Uses 0 as initial value if the key doesn't exist.",
        strings::decrby
    ),
    cmd!(
        "incrbyfloat",
        3,
        "write denyoom fast",
        "@string",
        KEY1,
        "string",
        "Increment the floating point value of a key by a number. Uses 0 as initial value if the key doesn't exist.",
        strings::incrbyfloat
    ),
    cmd!(
        "getrange",
        4,
        "readonly",
        "@string",
        KEY1,
        "string",
        "Returns a substring of the string stored at a key.",
        strings::getrange
    ),
    cmd!(
        "substr",
        4,
        "readonly",
        "@string",
        KEY1,
        "string",
        "Returns a substring from a string value.",
        strings::getrange
    ),
    cmd!(
        "setrange",
        4,
        "write denyoom",
        "@string",
        KEY1,
        "string",
        "Overwrites a part of a string value with another by an offset. Creates the key if it doesn't exist.",
        strings::setrange
    ),
    cmd!("lcs", -3, "readonly", "@string", (1, 2, 1), "string", "Finds the longest common substring.", strings::lcs),
    // Lists.
    cmd!("lpush", -3, "write denyoom fast", "@list", KEY1, "list", "Prepends one or more elements to a list. Creates the key if it doesn't exist.", lists::lpush),
    cmd!("rpush", -3, "write denyoom fast", "@list", KEY1, "list", "Appends one or more elements to a list. Creates the key if it doesn't exist.", lists::rpush),
    cmd!("lpushx", -3, "write denyoom fast", "@list", KEY1, "list", "Prepends one or more elements to a list only when the list exists.", lists::lpushx),
    cmd!("rpushx", -3, "write denyoom fast", "@list", KEY1, "list", "Appends an element to a list only when the list exists.", lists::rpushx),
    cmd!("lpop", -2, "write fast", "@list", KEY1, "list", "Returns the first elements in a list after removing it. Deletes the list if the last element was popped.", lists::lpop),
    cmd!("rpop", -2, "write fast", "@list", KEY1, "list", "Returns and removes the last elements of a list. Deletes the list if the last element was popped.", lists::rpop),
    cmd!("llen", 2, "readonly fast", "@list", KEY1, "list", "Returns the length of a list.", lists::llen),
    cmd!("lrange", 4, "readonly", "@list", KEY1, "list", "Returns a range of elements from a list.", lists::lrange),
    cmd!("lindex", 3, "readonly", "@list", KEY1, "list", "Returns an element from a list by its index.", lists::lindex),
    cmd!("lset", 4, "write denyoom", "@list", KEY1, "list", "Sets the value of an element in a list by its index.", lists::lset),
    cmd!("linsert", 5, "write denyoom", "@list", KEY1, "list", "Inserts an element before or after another element in a list.", lists::linsert),
    cmd!("lrem", 4, "write", "@list", KEY1, "list", "Removes elements from a list. Deletes the list if the last element was removed.", lists::lrem),
    cmd!("ltrim", 4, "write", "@list", KEY1, "list", "Removes elements from both ends a list. Deletes the list if all elements were trimmed.", lists::ltrim),
    cmd!("lpos", -3, "readonly", "@list", KEY1, "list", "Returns the index of matching elements in a list.", lists::lpos),
    cmd!("lmove", 5, "write denyoom", "@list", (1, 2, 1), "list", "Returns an element after popping it from one list and pushing it to another. Deletes the list if the last element was moved.", lists::lmove),
    cmd!("rpoplpush", 3, "write denyoom", "@list", (1, 2, 1), "list", "Returns the last element of a list after removing and pushing it to another list. Deletes the list if the last element was popped.", lists::rpoplpush),
    cmd!("lmpop", -4, "write", "@list", NOKEY, "list", "Returns multiple elements from a list after removing them. Deletes the list if the last element was popped.", lists::lmpop),
    cmd!("blpop", -3, "write noscript blocking", "@list", (1, -2, 1), "list", "Removes and returns the first element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.", lists::blpop),
    cmd!("brpop", -3, "write noscript blocking", "@list", (1, -2, 1), "list", "Removes and returns the last element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.", lists::brpop),
    cmd!("blmove", 6, "write denyoom noscript blocking", "@list", (1, 2, 1), "list", "Pops an element from a list, pushes it to another list and returns it. Blocks until an element is available otherwise. Deletes the list if the last element was moved.", lists::blmove),
    cmd!("brpoplpush", 4, "write denyoom noscript blocking", "@list", (1, 2, 1), "list", "Pops an element from a list, pushes it to another list and returns it. Block until an element is available otherwise. Deletes the list if the last element was popped.", lists::brpoplpush),
    cmd!("blmpop", -5, "write blocking", "@list", NOKEY, "list", "Pops the first element from one of multiple lists. Blocks until an element is available otherwise. Deletes the list if the last element was popped.", lists::blmpop),
    // Hashes.
    cmd!("hset", -4, "write denyoom fast", "@hash", KEY1, "hash", "Creates or modifies the value of a field in a hash.", hashes::hset),
    cmd!("hmset", -4, "write denyoom fast", "@hash", KEY1, "hash", "Sets the values of multiple fields.", hashes::hmset),
    cmd!("hsetnx", 4, "write denyoom fast", "@hash", KEY1, "hash", "Sets the value of a field in a hash only when the field doesn't exist.", hashes::hsetnx),
    cmd!("hget", 3, "readonly fast", "@hash", KEY1, "hash", "Returns the value of a field in a hash.", hashes::hget),
    cmd!("hmget", -3, "readonly fast", "@hash", KEY1, "hash", "Returns the values of all fields in a hash.", hashes::hmget),
    cmd!("hgetall", 2, "readonly", "@hash", KEY1, "hash", "Returns all fields and values in a hash.", hashes::hgetall),
    cmd!("hdel", -3, "write fast", "@hash", KEY1, "hash", "Deletes one or more fields and their values from a hash. Deletes the hash if no fields remain.", hashes::hdel),
    cmd!("hexists", 3, "readonly fast", "@hash", KEY1, "hash", "Determines whether a field exists in a hash.", hashes::hexists),
    cmd!("hlen", 2, "readonly fast", "@hash", KEY1, "hash", "Returns the number of fields in a hash.", hashes::hlen),
    cmd!("hkeys", 2, "readonly", "@hash", KEY1, "hash", "Returns all fields in a hash.", hashes::hkeys),
    cmd!("hvals", 2, "readonly", "@hash", KEY1, "hash", "Returns all values in a hash.", hashes::hvals),
    cmd!("hincrby", 4, "write denyoom fast", "@hash", KEY1, "hash", "Increments the integer value of a field in a hash by a number. Uses 0 as initial value if the field doesn't exist.", hashes::hincrby),
    cmd!("hincrbyfloat", 4, "write denyoom fast", "@hash", KEY1, "hash", "Increments the floating point value of a field by a number. Uses 0 as initial value if the field doesn't exist.", hashes::hincrbyfloat),
    cmd!("hstrlen", 3, "readonly fast", "@hash", KEY1, "hash", "Returns the length of the value of a field.", hashes::hstrlen),
    cmd!("hrandfield", -2, "readonly", "@hash", KEY1, "hash", "Returns one or more random fields from a hash.", hashes::hrandfield),
    cmd!("hscan", -3, "readonly", "@hash", KEY1, "hash", "Iterates over fields and values of a hash.", hashes::hscan),
    // Sets.
    cmd!("sadd", -3, "write denyoom fast", "@set", KEY1, "set", "Adds one or more members to a set. Creates the key if it doesn't exist.", sets::sadd),
    cmd!("srem", -3, "write fast", "@set", KEY1, "set", "Removes one or more members from a set. Deletes the set if the last member was removed.", sets::srem),
    cmd!("smembers", 2, "readonly", "@set", KEY1, "set", "Returns all members of a set.", sets::smembers),
    cmd!("sismember", 3, "readonly fast", "@set", KEY1, "set", "Determines whether a member belongs to a set.", sets::sismember),
    cmd!("smismember", -3, "readonly fast", "@set", KEY1, "set", "Determines whether multiple members belong to a set.", sets::smismember),
    cmd!("scard", 2, "readonly fast", "@set", KEY1, "set", "Returns the number of members in a set.", sets::scard),
    cmd!("spop", -2, "write fast", "@set", KEY1, "set", "Returns one or more random members from a set after removing them. Deletes the set if the last member was popped.", sets::spop),
    cmd!("srandmember", -2, "readonly", "@set", KEY1, "set", "Get one or multiple random members from a set", sets::srandmember),
    cmd!("smove", 4, "write fast", "@set", (1, 2, 1), "set", "Moves a member from one set to another.", sets::smove),
    cmd!("sinter", -2, "readonly", "@set", ALLKEYS, "set", "Returns the intersect of multiple sets.", sets::sinter),
    cmd!("sintercard", -3, "readonly", "@set", NOKEY, "set", "Returns the number of members of the intersect of multiple sets.", sets::sintercard),
    cmd!("sinterstore", -3, "write denyoom", "@set", ALLKEYS, "set", "Stores the intersect of multiple sets in a key.", sets::sinterstore),
    cmd!("sunion", -2, "readonly", "@set", ALLKEYS, "set", "Returns the union of multiple sets.", sets::sunion),
    cmd!("sunionstore", -3, "write denyoom", "@set", ALLKEYS, "set", "Stores the union of multiple sets in a key.", sets::sunionstore),
    cmd!("sdiff", -2, "readonly", "@set", ALLKEYS, "set", "Returns the difference of multiple sets.", sets::sdiff),
    cmd!("sdiffstore", -3, "write denyoom", "@set", ALLKEYS, "set", "Stores the difference of multiple sets in a key.", sets::sdiffstore),
    cmd!("sscan", -3, "readonly", "@set", KEY1, "set", "Iterates over members of a set.", sets::sscan),
    // Sorted sets.
    cmd!("zadd", -4, "write denyoom fast", "@sortedset", KEY1, "sorted_set", "Adds one or more members to a sorted set, or updates their scores. Creates the key if it doesn't exist.", zsets::zadd),
    cmd!("zincrby", 4, "write denyoom fast", "@sortedset", KEY1, "sorted_set", "Increments the score of a member in a sorted set.", zsets::zincrby),
    cmd!("zrem", -3, "write fast", "@sortedset", KEY1, "sorted_set", "Removes one or more members from a sorted set. Deletes the sorted set if all members were removed.", zsets::zrem),
    cmd!("zcard", 2, "readonly fast", "@sortedset", KEY1, "sorted_set", "Returns the number of members in a sorted set.", zsets::zcard),
    cmd!("zscore", 3, "readonly fast", "@sortedset", KEY1, "sorted_set", "Returns the score of a member in a sorted set.", zsets::zscore),
    cmd!("zmscore", -3, "readonly fast", "@sortedset", KEY1, "sorted_set", "Returns the score of one or more members in a sorted set.", zsets::zmscore),
    cmd!("zrank", 3, "readonly fast", "@sortedset", KEY1, "sorted_set", "Returns the index of a member in a sorted set ordered by ascending scores.", zsets::zrank),
    cmd!("zrevrank", 3, "readonly fast", "@sortedset", KEY1, "sorted_set", "Returns the index of a member in a sorted set ordered by descending scores.", zsets::zrevrank),
    cmd!("zrange", -4, "readonly", "@sortedset", KEY1, "sorted_set", "Returns members in a sorted set within a range of indexes.", zsets::zrange),
    cmd!("zrevrange", -4, "readonly", "@sortedset", KEY1, "sorted_set", "Returns members in a sorted set within a range of indexes in reverse order.", zsets::zrevrange),
    cmd!("zrangebyscore", -4, "readonly", "@sortedset", KEY1, "sorted_set", "Returns members in a sorted set within a range of scores.", zsets::zrangebyscore),
    cmd!("zrevrangebyscore", -4, "readonly", "@sortedset", KEY1, "sorted_set", "Returns members in a sorted set within a range of scores in reverse order.", zsets::zrevrangebyscore),
    cmd!("zrangebylex", -4, "readonly", "@sortedset", KEY1, "sorted_set", "Returns members in a sorted set within a lexicographical range.", zsets::zrangebylex),
    cmd!("zrevrangebylex", -4, "readonly", "@sortedset", KEY1, "sorted_set", "Returns members in a sorted set within a lexicographical range in reverse order.", zsets::zrevrangebylex),
    cmd!("zcount", 4, "readonly fast", "@sortedset", KEY1, "sorted_set", "Returns the count of members in a sorted set that have scores within a range.", zsets::zcount),
    cmd!("zlexcount", 4, "readonly fast", "@sortedset", KEY1, "sorted_set", "Returns the number of members in a sorted set within a lexicographical range.", zsets::zlexcount),
    cmd!("zremrangebyrank", 4, "write", "@sortedset", KEY1, "sorted_set", "Removes members in a sorted set within a range of indexes. Deletes the sorted set if all members were removed.", zsets::zremrangebyrank),
    cmd!("zremrangebyscore", 4, "write", "@sortedset", KEY1, "sorted_set", "Removes members in a sorted set within a range of scores. Deletes the sorted set if all members were removed.", zsets::zremrangebyscore),
    cmd!("zremrangebylex", 4, "write", "@sortedset", KEY1, "sorted_set", "Removes members in a sorted set within a lexicographical range. Deletes the sorted set if all members were removed.", zsets::zremrangebylex),
    cmd!("zpopmin", -2, "write fast", "@sortedset", KEY1, "sorted_set", "Returns the lowest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.", zsets::zpopmin),
    cmd!("zpopmax", -2, "write fast", "@sortedset", KEY1, "sorted_set", "Returns the highest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.", zsets::zpopmax),
    cmd!("bzpopmin", -3, "write noscript blocking fast", "@sortedset", (1, -2, 1), "sorted_set", "Removes and returns the member with the lowest score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.", zsets::bzpopmin),
    cmd!("bzpopmax", -3, "write noscript blocking fast", "@sortedset", (1, -2, 1), "sorted_set", "Removes and returns the member with the highest score from one or more sorted sets. Blocks until a member available otherwise.  Deletes the sorted set if the last element was popped.", zsets::bzpopmax),
    cmd!("zscan", -3, "readonly", "@sortedset", KEY1, "sorted_set", "Iterates over members and scores of a sorted set.", zsets::zscan),
    cmd!("zrangestore", -5, "write denyoom", "@sortedset", (1, 2, 1), "sorted_set", "Stores a range of members from sorted set in a key.", zsets::zrangestore),
    cmd!("zmpop", -4, "write", "@sortedset", NOKEY, "sorted_set", "Returns the highest- or lowest-scoring members from one or more sorted sets after removing them. Deletes the sorted set if the last member was popped.", zsets::zmpop),
    cmd!("bzmpop", -5, "write blocking", "@sortedset", NOKEY, "sorted_set", "Removes and returns a member by score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.", zsets::bzmpop),
    cmd!("zrandmember", -2, "readonly", "@sortedset", KEY1, "sorted_set", "Returns one or more random members from a sorted set.", zsets::zrandmember),
    cmd!("zunion", -3, "readonly", "@sortedset", NOKEY, "sorted_set", "Returns the union of multiple sorted sets.", zset_ops::zunion),
    cmd!("zinter", -3, "readonly", "@sortedset", NOKEY, "sorted_set", "Returns the intersect of multiple sorted sets.", zset_ops::zinter),
    cmd!("zdiff", -3, "readonly", "@sortedset", NOKEY, "sorted_set", "Returns the difference between multiple sorted sets.", zset_ops::zdiff),
    cmd!("zunionstore", -4, "write denyoom", "@sortedset", KEY1, "sorted_set", "Stores the union of multiple sorted sets in a key.", zset_ops::zunionstore),
    cmd!("zinterstore", -4, "write denyoom", "@sortedset", KEY1, "sorted_set", "Stores the intersect of multiple sorted sets in a key.", zset_ops::zinterstore),
    cmd!("zdiffstore", -4, "write denyoom", "@sortedset", KEY1, "sorted_set", "Stores the difference of multiple sorted sets in a key.", zset_ops::zdiffstore),
    cmd!("zintercard", -3, "readonly", "@sortedset", NOKEY, "sorted_set", "Returns the number of members of the intersect of multiple sorted sets.", zset_ops::zintercard),
    // Keys.
    cmd!("del", -2, "write", "@keyspace", ALLKEYS, "generic", "Deletes one or more keys.", keys::del),
    cmd!(
        "unlink",
        -2,
        "write fast",
        "@keyspace",
        ALLKEYS,
        "generic",
        "Asynchronously deletes one or more keys.",
        keys::del
    ),
    cmd!(
        "exists",
        -2,
        "readonly fast",
        "@keyspace",
        ALLKEYS,
        "generic",
        "Determines whether one or more keys exist.",
        keys::exists
    ),
    cmd!(
        "type",
        2,
        "readonly fast",
        "@keyspace",
        KEY1,
        "generic",
        "Determines the type of value stored at a key.",
        keys::type_
    ),
    cmd!(
        "rename",
        3,
        "write",
        "@keyspace",
        (1, 2, 1),
        "generic",
        "Renames a key and overwrites the destination.",
        keys::rename
    ),
    cmd!(
        "renamenx",
        3,
        "write fast",
        "@keyspace",
        (1, 2, 1),
        "generic",
        "Renames a key only when the target key name doesn't exist.",
        keys::renamenx
    ),
    cmd!(
        "copy",
        -3,
        "write denyoom",
        "@keyspace",
        (1, 2, 1),
        "generic",
        "Copies the value of a key to a new key.",
        keys::copy
    ),
    cmd!("move", 3, "write fast", "@keyspace", KEY1, "generic", "Moves a key to another database.", keys::move_),
    cmd!(
        "expire",
        -3,
        "write fast",
        "@keyspace",
        KEY1,
        "generic",
        "Sets the expiration time of a key in seconds.",
        keys::expire
    ),
    cmd!(
        "pexpire",
        -3,
        "write fast",
        "@keyspace",
        KEY1,
        "generic",
        "Sets the expiration time of a key in milliseconds.",
        keys::pexpire
    ),
    cmd!(
        "expireat",
        -3,
        "write fast",
        "@keyspace",
        KEY1,
        "generic",
        "Sets the expiration time of a key to a Unix timestamp.",
        keys::expireat
    ),
    cmd!(
        "pexpireat",
        -3,
        "write fast",
        "@keyspace",
        KEY1,
        "generic",
        "Sets the expiration time of a key to a Unix milliseconds timestamp.",
        keys::pexpireat
    ),
    cmd!(
        "ttl",
        2,
        "readonly fast",
        "@keyspace",
        KEY1,
        "generic",
        "Returns the expiration time in seconds of a key.",
        keys::ttl
    ),
    cmd!(
        "pttl",
        2,
        "readonly fast",
        "@keyspace",
        KEY1,
        "generic",
        "Returns the expiration time in milliseconds of a key.",
        keys::pttl
    ),
    cmd!(
        "expiretime",
        2,
        "readonly fast",
        "@keyspace",
        KEY1,
        "generic",
        "Returns the expiration time of a key as a Unix timestamp.",
        keys::expiretime
    ),
    cmd!(
        "pexpiretime",
        2,
        "readonly fast",
        "@keyspace",
        KEY1,
        "generic",
        "Returns the expiration time of a key as a Unix milliseconds timestamp.",
        keys::pexpiretime
    ),
    cmd!(
        "persist",
        2,
        "write fast",
        "@keyspace",
        KEY1,
        "generic",
        "Removes the expiration time of a key.",
        keys::persist
    ),
    cmd!(
        "keys",
        2,
        "readonly",
        "@keyspace @dangerous",
        NOKEY,
        "generic",
        "Returns all key names that match a pattern.",
        keys::keys
    ),
    cmd!(
        "scan",
        -2,
        "readonly",
        "@keyspace",
        NOKEY,
        "generic",
        "Iterates over the key names in the database.",
        keys::scan
    ),
    cmd!(
        "randomkey",
        1,
        "readonly",
        "@keyspace",
        NOKEY,
        "generic",
        "Returns a random key name from the database.",
        keys::randomkey
    ),
    cmd!(
        "touch",
        -2,
        "readonly fast",
        "@keyspace",
        ALLKEYS,
        "generic",
        "Returns the number of existing keys out of those specified after updating the time they were last accessed.",
        keys::touch
    ),
    container!(
        "object",
        -2,
        "generic",
        "A container for object introspection commands.",
        None,
        [
            cmd!(
                "encoding",
                3,
                "readonly",
                "@keyspace",
                (2, 2, 1),
                "generic",
                "Returns the internal encoding of a Redis object.",
                keys::object_encoding
            ),
            cmd!(
                "freq",
                3,
                "readonly",
                "@keyspace",
                (2, 2, 1),
                "generic",
                "Returns the logarithmic access frequency counter of a Redis object.",
                keys::object_freq
            ),
            cmd!(
                "idletime",
                3,
                "readonly",
                "@keyspace",
                (2, 2, 1),
                "generic",
                "Returns the time since the last access to a Redis object.",
                keys::object_idletime
            ),
            cmd!(
                "refcount",
                3,
                "readonly",
                "@keyspace",
                (2, 2, 1),
                "generic",
                "Returns the reference count of a value of a key.",
                keys::object_refcount
            ),
            cmd!(
                "help",
                2,
                "loading stale",
                "@keyspace",
                NOKEY,
                "generic",
                "Returns helpful text about the different subcommands.",
                intro::object_help
            ),
        ]
    ),
    // Connection.
    cmd!(
        "ping",
        -1,
        "fast",
        "@connection",
        NOKEY,
        "connection",
        "Returns the server's liveliness response.",
        conn::ping
    ),
    cmd!("echo", 2, "fast", "@connection", NOKEY, "connection", "Returns the given string.", conn::echo),
    cmd!(
        "hello",
        -1,
        "noscript loading stale fast no_auth",
        "@connection",
        NOKEY,
        "connection",
        "Handshakes with the Redis server.",
        conn::hello
    ),
    cmd!(
        "auth",
        -2,
        "noscript loading stale fast no_auth",
        "@connection",
        NOKEY,
        "connection",
        "Authenticates the connection.",
        conn::auth
    ),
    cmd!(
        "select",
        2,
        "loading stale fast",
        "@connection",
        NOKEY,
        "connection",
        "Changes the selected database.",
        conn::select
    ),
    cmd!(
        "quit",
        -1,
        "noscript loading stale fast no_auth allow_busy",
        "@connection",
        NOKEY,
        "connection",
        "Closes the connection.",
        conn::quit
    ),
    cmd!(
        "reset",
        1,
        "noscript loading stale fast no_auth allow_busy",
        "@connection",
        NOKEY,
        "connection",
        "Resets the connection.",
        conn::reset
    ),
    container!(
        "client",
        -2,
        "connection",
        "A container for client connection commands.",
        None,
        [
            cmd!(
                "id",
                2,
                "noscript loading stale",
                "@connection",
                NOKEY,
                "connection",
                "Returns the unique client ID of the connection.",
                conn::client_id
            ),
            cmd!(
                "setname",
                3,
                "noscript loading stale",
                "@connection",
                NOKEY,
                "connection",
                "Sets the connection name.",
                conn::client_setname
            ),
            cmd!(
                "getname",
                2,
                "noscript loading stale",
                "@connection",
                NOKEY,
                "connection",
                "Returns the name of the connection.",
                conn::client_getname
            ),
            cmd!(
                "setinfo",
                4,
                "noscript loading stale",
                "@connection",
                NOKEY,
                "connection",
                "Sets information specific to the client or connection.",
                conn::client_setinfo
            ),
            cmd!(
                "list",
                -2,
                "admin noscript loading stale",
                "@connection",
                NOKEY,
                "connection",
                "Lists open connections.",
                conn::client_list
            ),
            cmd!(
                "info",
                2,
                "noscript loading stale",
                "@connection",
                NOKEY,
                "connection",
                "Returns information about the connection.",
                conn::client_info
            ),
            cmd!(
                "kill",
                -3,
                "admin noscript loading stale",
                "@connection",
                NOKEY,
                "connection",
                "Terminates open connections.",
                conn::client_kill
            ),
            cmd!(
                "no-evict",
                3,
                "admin noscript loading stale",
                "@connection",
                NOKEY,
                "connection",
                "Sets the client eviction mode of the connection.",
                conn::client_no_evict
            ),
            cmd!(
                "no-touch",
                3,
                "noscript loading stale",
                "@connection",
                NOKEY,
                "connection",
                "Controls whether commands sent by the client affect the LRU/LFU of accessed keys.",
                conn::client_no_touch
            ),
            cmd!(
                "reply",
                3,
                "noscript loading stale",
                "@connection",
                NOKEY,
                "connection",
                "Instructs the server whether to reply to commands.",
                conn::client_reply
            ),
        cmd!("unblock", -3, "admin noscript loading stale", "@connection", NOKEY, "connection", "Unblocks a client blocked by a blocking command from a different connection.", conn::client_unblock),
            cmd!(
                "getredir",
                2,
                "noscript loading stale",
                "@connection",
                NOKEY,
                "connection",
                "Returns the client ID to which the connection's tracking notifications are redirected.",
                conn::client_getredir
            ),
            cmd!(
                "help",
                2,
                "loading stale",
                "@connection",
                NOKEY,
                "connection",
                "Returns helpful text about the different subcommands.",
                conn::client_help
            ),
        ]
    ),
    // Server.
    cmd!(
        "dbsize",
        1,
        "readonly fast",
        "@keyspace",
        NOKEY,
        "server",
        "Returns the number of keys in the database.",
        srv::dbsize
    ),
    cmd!(
        "flushdb",
        -1,
        "write",
        "@keyspace @dangerous",
        NOKEY,
        "server",
        "Remove all keys from the current database.",
        srv::flushdb
    ),
    cmd!(
        "flushall",
        -1,
        "write",
        "@keyspace @dangerous",
        NOKEY,
        "server",
        "Removes all keys from all databases.",
        srv::flushall
    ),
    cmd!("swapdb", 3, "write fast", "@keyspace @dangerous", NOKEY, "server", "Swaps two Redis databases.", srv::swapdb),
    cmd!("time", 1, "loading stale fast", "", NOKEY, "server", "Returns the server time.", srv::time),
    cmd!(
        "info",
        -1,
        "loading stale",
        "@dangerous",
        NOKEY,
        "server",
        "Returns information and statistics about the server.",
        srv::info
    ),
    cmd!(
        "debug",
        -2,
        "admin noscript loading stale",
        "",
        NOKEY,
        "server",
        "A container for debugging commands.",
        srv::debug
    ),
    cmd!(
        "shutdown",
        -1,
        "admin noscript loading stale no_multi allow_busy",
        "",
        NOKEY,
        "server",
        "Synchronously saves the database(s) to disk and shuts down the Redis server.",
        srv::shutdown
    ),
    cmd!(
        "monitor",
        1,
        "admin noscript loading stale",
        "",
        NOKEY,
        "server",
        "Listens for all requests received by the server in real-time.",
        srv::monitor
    ),
    container!(
        "config",
        -2,
        "server",
        "A container for server configuration commands.",
        None,
        [
            cmd!(
                "get",
                -3,
                "admin noscript loading stale",
                "",
                NOKEY,
                "server",
                "Returns the effective values of configuration parameters.",
                srv::config_get
            ),
            cmd!(
                "set",
                -4,
                "admin noscript loading stale",
                "",
                NOKEY,
                "server",
                "Sets configuration parameters in-flight.",
                srv::config_set
            ),
            cmd!(
                "resetstat",
                2,
                "admin noscript loading stale",
                "",
                NOKEY,
                "server",
                "Resets the server's statistics.",
                srv::config_resetstat
            ),
            cmd!(
                "rewrite",
                2,
                "admin noscript loading stale",
                "",
                NOKEY,
                "server",
                "Persists the effective configuration to file.",
                srv::config_rewrite
            ),
            cmd!(
                "help",
                2,
                "loading stale",
                "",
                NOKEY,
                "server",
                "Returns helpful text about the different subcommands.",
                intro::config_help
            ),
        ]
    ),
    container!(
        "slowlog",
        -2,
        "server",
        "A container for slow log commands.",
        None,
        [
            cmd!(
                "get",
                -2,
                "admin loading stale",
                "",
                NOKEY,
                "server",
                "Returns the slow log's entries.",
                srv::slowlog_get
            ),
            cmd!(
                "len",
                2,
                "admin loading stale",
                "",
                NOKEY,
                "server",
                "Returns the number of entries in the slow log.",
                srv::slowlog_len
            ),
            cmd!(
                "reset",
                2,
                "admin loading stale",
                "",
                NOKEY,
                "server",
                "Clears all entries from the slow log.",
                srv::slowlog_reset
            ),
            cmd!(
                "help",
                2,
                "loading stale",
                "",
                NOKEY,
                "server",
                "Show helpful text about the different subcommands",
                srv::slowlog_help
            ),
        ]
    ),
    container!(
        "command",
        -1,
        "server",
        "Returns detailed information about all commands.",
        Some(intro::command),
        [
            cmd!(
                "count",
                2,
                "loading stale",
                "@connection",
                NOKEY,
                "server",
                "Returns a count of commands.",
                intro::command_count
            ),
            cmd!(
                "info",
                -2,
                "loading stale",
                "@connection",
                NOKEY,
                "server",
                "Returns information about one, multiple or all commands.",
                intro::command_info
            ),
            cmd!(
                "docs",
                -2,
                "loading stale",
                "@connection",
                NOKEY,
                "server",
                "Returns documentary information about one, multiple or all commands.",
                intro::command_docs
            ),
            cmd!(
                "list",
                -2,
                "loading stale",
                "@connection",
                NOKEY,
                "server",
                "Returns a list of command names.",
                intro::command_list
            ),
            cmd!(
                "getkeys",
                -3,
                "loading stale",
                "@connection",
                NOKEY,
                "server",
                "Extracts the key names from an arbitrary command.",
                intro::command_getkeys
            ),
            cmd!(
                "help",
                2,
                "loading stale",
                "@connection",
                NOKEY,
                "server",
                "Returns helpful text about the different subcommands.",
                intro::command_help
            ),
        ]
    ),
    container!(
        "function",
        -2,
        "scripting",
        "A container for function commands.",
        None,
        [cmd!(
            "flush",
            -2,
            "write noscript",
            "@scripting",
            NOKEY,
            "scripting",
            "Deletes all libraries and functions.",
            srv::function_flush
        ),]
    ),
    container!(
        "memory",
        -2,
        "server",
        "A container for memory diagnostics commands.",
        None,
        [
            cmd!(
                "usage",
                -3,
                "readonly",
                "",
                (2, 2, 1),
                "server",
                "Estimates the memory usage of a key.",
                keys::memory_usage
            ),
            cmd!("doctor", 2, "", "", NOKEY, "server", "Outputs a memory problems report.", intro::memory_doctor),
            cmd!("stats", 2, "", "", NOKEY, "server", "Returns details about memory usage.", intro::memory_stats),
            cmd!("purge", 2, "", "", NOKEY, "server", "Asks the allocator to release memory.", intro::memory_purge),
            cmd!(
                "help",
                2,
                "loading stale",
                "",
                NOKEY,
                "server",
                "Returns helpful text about the different subcommands.",
                intro::memory_help
            ),
        ]
    ),
];
