export {
  createRedisChangeFeed,
  type RedisChangeClient,
  type RedisChangeFeedOptions,
  type RedisChangeSubscriber,
} from './redis-changes.js'
